"""Where campaign jobs run: in-process, a local process pool, or a Dask cluster.

All three are `concurrent.futures.Executor`s, so the campaign code is the same for each.
Results never depend on the executor: every job carries its own seed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from circuitkit import CircuitkitError

EXECUTORS = ("process", "serial", "dask")
# ngspice leaks memory per simulation (PySpice issue 373) and keeps global state: a
# worker process is replaced after this many jobs.
JOBS_PER_WORKER_PROCESS = 50
# What every local worker imports before its first job (besides the caller's `preload`).
WORKER_MODULES = ("circuitkit.corners.jobs",)


def _adopt(environment: dict[str, str], cwd: str, path: list[str]) -> None:
    """Worker initializer: the campaign process's environment, directory and import path as
    they are now (a forkserver's children inherit the server's, from when it started)."""
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(cwd)
    sys.path[:] = path


def worker_context(preload: Sequence[str]):
    """Workers forked from a clean server process that has imported circuitkit once.

    Not fork: that would copy the campaign process's state (a loaded ngspice shared
    library, threads). Not spawn: every worker (and every replacement after
    JOBS_PER_WORKER_PROCESS jobs) would import numpy, scipy and circuitkit again, ~0.7 s of
    CPU each, a visible share of a campaign's cost. The server is started once per process
    (the first pool fixes its preload list; later ones import anything else themselves);
    '__main__' is preloaded so that a simulator defined in the caller's script unpickles
    without re-running that script in every worker."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(dict.fromkeys(["__main__", *WORKER_MODULES, *preload])))
    return context


class SerialExecutor(Executor):
    """Runs each job when it is submitted, in this process (debugging, tiny campaigns)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the caller through the future
            future.set_exception(error)
        return future


@contextlib.contextmanager
def make_executor(kind: str = "process", workers: int = 1, scheduler: str | None = None,
                  preload: Sequence[str] = ()) -> Iterator[tuple[Executor, int]]:
    """The executor and how many jobs it runs at once (a Dask cluster: its worker threads).
    `preload`: modules local workers should have imported before their first job (the
    module of the function they run and of what it is handed)."""
    if kind not in EXECUTORS:
        raise CircuitkitError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTORS)}")
    if kind == "serial" or (kind == "process" and workers <= 1):
        yield SerialExecutor(), 1
        return
    if kind == "process":
        with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(preload),
                                 max_tasks_per_child=JOBS_PER_WORKER_PROCESS, initializer=_adopt,
                                 initargs=(dict(os.environ), os.getcwd(), list(sys.path))) as pool:
            yield pool, workers
        return
    try:
        from distributed import Client
    except ImportError as error:
        raise CircuitkitError("--executor dask needs the 'distributed' package: pip install 'circuitkit[dask]'") from error
    if not scheduler:
        raise CircuitkitError("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as error:
        raise CircuitkitError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error
    try:
        with client.get_executor() as pool:
            yield pool, max(1, sum(client.nthreads().values()))
    finally:
        client.close()
