"""A fit never loses its work: the card and report are on disk before ngspice runs, an ngspice
crash or a kill leaves them there, and a failing model evaluation cannot become the optimum."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from circuitkit.device.fit import FitError, FreeParameter, _least_squares, parameter_flags
from circuitkit.device.model import ModelCard
from circuitkit.device.simulate import ModelSimulationError

ROOT = Path(__file__).resolve().parents[1]
CELLS = "".join(f"{r:.6g}\n" for r in np.r_[9.3e3 * np.exp(0.05 * np.random.default_rng(1).standard_normal(300)),
                                          86e3 * np.exp(0.4 * np.random.default_rng(2).standard_normal(60))])


def _fake_ngspice(directory: Path, body: str) -> dict[str, str]:
    """A `ngspice` on PATH that misbehaves like the real one can: crash, or hang."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "ngspice"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}


def _fit_command(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "circuitkit.cli", "fit", str(data), "--kind", "distribution", "--no-header",
            "--column", "resistance=1", "--read-voltage", "0.2", "-o", str(out), "-q"]


@pytest.mark.spice
def test_an_ngspice_crash_leaves_card_and_report_and_says_what_failed(tmp_path):
    data = tmp_path / "cells.tsv"
    data.write_text(CELLS)
    env = _fake_ngspice(tmp_path / "bin", 'case "$*" in *-v*|*--version*) exec /usr/bin/ngspice "$@";; esac\n'
                                          "kill -SEGV $$")
    proc = subprocess.run(_fit_command(data, tmp_path / "out"), capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "fit_report.json").read_text())
    card = ModelCard.load(tmp_path / "out" / "model_card.json")
    assert set(card.distributions) == {"LRS", "HRS"}
    assert report["ngspice"]["status"] == "failed" and card.provenance["ngspice_status"] == "failed"
    attempts = report["ngspice"]["attempts"]
    assert [a["safer"] for a in attempts] == [False, True]
    assert all("-11" in a["message"] and a["netlist"] and Path(a["netlist"]).exists() for a in attempts)
    assert "ngspice re-simulation FAILED (card and report were written first)" in proc.stdout


def test_a_killed_resimulation_leaves_card_and_report(tmp_path):
    data = tmp_path / "cells.tsv"
    data.write_text(CELLS)
    env = _fake_ngspice(tmp_path / "bin", 'case "$*" in *-v*|*--version*) exec /usr/bin/ngspice "$@";; esac\n'
                                          "sleep 60")
    command = _fit_command(data, tmp_path / "out")
    command.remove("-q")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if "before any ngspice run" in line or time.monotonic() > deadline:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    report = json.loads((tmp_path / "out" / "fit_report.json").read_text())
    assert report["ngspice"]["status"] == "pending" and report["fit_metrics"]["states"]["LRS"]["n"] == 300
    assert ModelCard.load(tmp_path / "out" / "model_card.json").provenance["ngspice_status"] == "pending"


def test_a_failing_model_can_never_be_the_optimum():
    """The sentinel residual of a failed evaluation used to be accepted as an answer when
    every step failed (issue 12, item 6): now the fit refuses, naming the parameters."""
    free = (FreeParameter("gamma0", "", 0.5, 60.0),)

    def residual(card, values):
        raise ModelSimulationError("the integration ran away")

    with pytest.raises(FitError, match=r"cannot evaluate \(gamma0=16\).*the integration ran away"):
        _least_squares(residual, 5, ModelCard.default(), free, {"gamma0": 16.0}, "linear", None)

    calls = []

    def sometimes(card, values):  # fails away from the optimum: rejected steps, then a real answer
        calls.append(values["gamma0"])
        if values["gamma0"] > 30:
            raise ModelSimulationError("stiff")
        return np.array([values["gamma0"] - 12.0, 0.0])

    result, best = _least_squares(sometimes, 2, ModelCard.default(), free, {"gamma0": 29.9}, "linear", None)
    assert best["gamma0"] == pytest.approx(12.0, abs=1e-6) and result.success


def test_flags_say_what_is_wrong_in_words():
    rows = {"vel0": {"vary": True, "value": 1e-16, "unit": "m/s",
                     "fit_space": {"name": "log10_vel0", "value": -16.0, "stderr": 3.0, "lower": -16.0, "upper": 8.0}},
            "gmax": {"vary": True, "value": 3e-9, "unit": "m",
                     "fit_space": {"name": "gmax_nm", "value": 3.0, "stderr": None, "lower": 0.25, "upper": 3.0}},
            "gamma0": {"vary": True, "value": 14.0, "unit": "",
                       "fit_space": {"name": "gamma0", "value": 14.0, "stderr": 0.2, "lower": 0.5, "upper": 60.0}}}

    class NotConverged:
        success = False
        message = "max evaluations"

    problems = {(f["what"], f["problem"]) for f in parameter_flags(rows, NotConverged())}
    assert problems == {("vel0", "at_lower_bound"), ("vel0", "uncertain"), ("gmax", "at_upper_bound"),
                        ("gmax", "undetermined"), ("optimizer", "not_converged")}
