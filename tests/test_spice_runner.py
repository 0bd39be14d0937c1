"""The simulation runner: results as arrays, and clear errors for bad netlists."""

from __future__ import annotations

import re

import numpy as np
import pytest

from circuitkit.spice.rawfile import read_raw
from circuitkit.spice.runner import SimulationError, parse_measures, run_batch

pytestmark = pytest.mark.spice

RC = "* rc step\nV1 in 0 PULSE(0 1 0 1p 1p 1 2)\nR1 in out 1k\nC1 out 0 1n\n.tran 10n 5u\n.meas tran vend find v(out) at=5u\n.end\n"


def test_waveforms_and_measures_come_back_as_arrays(tmp_path):
    result = run_batch(RC, workdir=tmp_path, name="rc")
    time, out = result["time"], result["v(out)"]
    assert time.shape == out.shape and time.size > 100
    np.testing.assert_allclose(out[-1], 1 - np.exp(-5), rtol=1e-3)
    assert result.measure("vend") == pytest.approx(1 - np.exp(-5), rel=1e-3)
    assert (tmp_path / "rc.cir").exists() and (tmp_path / "rc.raw").exists()


def test_ascii_raw_files_are_read_too(tmp_path):
    netlist = RC.replace(".end\n", ".control\nset filetype=ascii\nrun\nwrite rc_ascii.raw v(out)\n.endc\n.end\n")
    run_batch(netlist, workdir=tmp_path)
    plot = read_raw(tmp_path / "rc_ascii.raw")[-1]
    assert plot.vectors["v(out)"][-1] == pytest.approx(1 - np.exp(-5), rel=1e-3)


def test_syntax_error_names_the_netlist(tmp_path):
    with pytest.raises(SimulationError) as error:
        run_batch("* bad\nR1 a 0 1k\nX1 a b no_such_subckt\n.op\n.end\n", workdir=tmp_path, name="bad")
    assert error.value.kind == "syntax"
    assert str(tmp_path / "bad.cir") in str(error.value) and "no_such_subckt" in str(error.value)


def test_missing_model_file_is_a_clear_error():
    with pytest.raises(SimulationError, match="(?i)could not find include file|can't find") as error:
        run_batch("* missing include\n.include no_such_models.spice\nR1 a 0 1k\nV1 a 0 1\n.op\n.end\n")
    assert error.value.kind == "syntax"


def test_non_converging_netlist_is_a_clear_error():
    # The source demands v(a) = v(a) + 1: there is no operating point.
    with pytest.raises(SimulationError, match="no DC operating point") as error:
        run_batch("* no solution\nR1 a 0 1k\nB1 a 0 V = v(a) + 1\n.tran 1n 10n\n.end\n")
    assert error.value.kind == "convergence"


def test_measure_parser_ignores_ngspice_statistics():
    measures, series = parse_measures("tdelay              =  1.5e-10 targ=  2e-9 trig= 1e-9\nStack = 0 bytes.\n")
    assert measures == {"tdelay": 1.5e-10}
    assert series["tdelay"].tolist() == [1.5e-10]


def test_a_failed_measure_is_nan_not_a_failed_run():
    result = run_batch("* rc\nV1 a 0 1\nR1 a 0 1k\n.tran 1n 10n\n"
                       ".meas tran missing find v(no_such_node) at=5n\n.meas tran present find v(a) at=5n\n.end\n")
    assert result.measure("present") == pytest.approx(1.0)
    assert np.isnan(result.measures.get("missing", np.nan))


def test_runs_use_the_ngspice_binary_the_toolchain_resolved(tmp_path, monkeypatch):
    """$CIRCUITKIT_NGSPICE names the binary toolchain() checks and records: the runs must
    execute that one, not whatever `ngspice` PATH finds first."""
    import shutil

    from circuitkit import toolchain

    real = shutil.which("ngspice")
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "my-ngspice"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CIRCUITKIT_NGSPICE", str(wrapper))
    toolchain.toolchain.cache_clear()
    try:
        assert toolchain.toolchain().ngspice == wrapper
        result = run_batch(RC, workdir=tmp_path / "run", name="through_wrapper")
    finally:
        toolchain.toolchain.cache_clear()   # the next test resolves the default again
    assert result.measure("vend") == pytest.approx(1 - np.exp(-5), rel=1e-3)
    assert "-b through_wrapper.cir" in calls.read_text().splitlines()


def test_a_batch_runs_its_analysis_once(tmp_path):
    """The control block ends with `quit`: without it `ngspice -b` runs the transient a
    second time after the block (the deck has `.meas` lines) and prints every measure twice."""
    result = run_batch(RC, workdir=tmp_path, name="rc")
    assert len(re.findall(r"^vend\s+=", result.log, re.MULTILINE)) == 1, result.log[-2000:]
