"""`circuitkit netlist` then `circuitkit simulate` on the file, with real ngspice."""

from __future__ import annotations

import pytest

from circuitkit.cli import main

pytestmark = pytest.mark.spice


def test_netlist_then_simulate_prints_the_measured_read(tmp_path, capsys):
    path = tmp_path / "read.cir"
    assert main(["netlist", "2t2r-pcsa", "--weight", "-1", "--reads", "3", "-o", str(path)]) == 0
    assert main(["simulate", str(path), "--workdir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "2t2r-pcsa: tt, 1.8 V, 27 C" in out
    assert out.count("read -1 (expected -1, ok)") == 2  # first and last read
    assert "delay=" in out and "energy=" in out and "RRAM drift" in out
    assert (tmp_path / "run" / "read.cir").exists()  # the deck ngspice ran is kept for a rerun by hand


def test_simulate_array_and_neuron(tmp_path, capsys):
    array = tmp_path / "array.cir"
    assert main(["netlist", "array", "--rows", "2", "--cols", "3", "--pattern", "checkerboard", "-o", str(array)]) == 0
    assert main(["simulate", str(array)]) == 0
    out = capsys.readouterr().out
    assert "0 error(s)" in out and out.count("row ") == 2
    neuron = tmp_path / "neuron.cir"
    assert main(["netlist", "if-neuron", "--r-positive", "10e3", "--t-stop", "500e-9", "-o", str(neuron)]) == 0
    assert main(["simulate", str(neuron)]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "positive, 0 negative" in out and "period" in out
