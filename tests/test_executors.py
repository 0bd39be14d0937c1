"""Local campaign workers: forked from a server that imported circuitkit once, yet running
with the campaign process's environment, directory and import path as they are when the
pool starts (no ngspice here)."""

from __future__ import annotations

import os
import sys

from circuitkit.corners.executors import make_executor


def _worker_view(name: str) -> tuple[str | None, str, list[str], int]:
    return os.environ.get(name), os.getcwd(), list(sys.path), os.getpid()


def test_workers_see_the_environment_of_the_campaign_not_of_the_worker_server(tmp_path, monkeypatch):
    with make_executor("process", 2) as (pool, slots):
        assert slots == 2
        pool.submit(os.getpid).result()  # the worker server is running from here on
    # What a flow stage or a test changes after the server started (e.g. the PDK to use).
    monkeypatch.setenv("CIRCUITKIT_TEST_EXECUTOR_VARIABLE", "set after the server started")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "extra"))
    with make_executor("process", 2) as (pool, _):
        value, cwd, path, pid = pool.submit(_worker_view, "CIRCUITKIT_TEST_EXECUTOR_VARIABLE").result()
    assert pid != os.getpid()
    assert value == "set after the server started"
    assert cwd == str(tmp_path)
    assert path[0] == str(tmp_path / "extra")
