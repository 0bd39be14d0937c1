"""Where campaign jobs run: in-process, a local process pool, or a Dask cluster.

All three are `concurrent.futures.Executor`s, so the campaign code is the same for each.
Results never depend on the executor: every job carries its own seed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from circuitkit import CircuitkitError

EXECUTORS = ("process", "serial", "dask")
# ngspice leaks memory per simulation (PySpice issue 373) and keeps global state: a
# worker process is replaced after this many jobs.
JOBS_PER_WORKER_PROCESS = 50


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
def make_executor(kind: str = "process", workers: int = 1,
                  scheduler: str | None = None) -> Iterator[tuple[Executor, int]]:
    """The executor and how many jobs it runs at once (a Dask cluster: its worker threads)."""
    if kind not in EXECUTORS:
        raise CircuitkitError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTORS)}")
    if kind == "serial" or (kind == "process" and workers <= 1):
        yield SerialExecutor(), 1
        return
    if kind == "process":
        # fork would copy a parent's loaded ngspice shared library state; spawn is clean.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 max_tasks_per_child=JOBS_PER_WORKER_PROCESS) as pool:
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
