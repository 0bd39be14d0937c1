"""FLOW.toml measurement tables: files plus reader options, resolved, checked, keyed by content."""

from __future__ import annotations

import pytest

from circuitkit import CircuitkitError
from circuitkit.device.characterize import read_files
from circuitkit.flow import FlowConfig, demo_flow

FLOW = """
[measurements]
distribution = "cells.csv"

[measurements.pulse]
files = ["set.tsv", "reset.tsv"]
header = false
columns = { address = 1, width = 2, wl_voltage = 3, line_voltage = 4, r_before = 5, r_after = 6 }
pulsed_line = ["bl", "sl"]
read_voltage = 0.2
cycling = "cycling.csv"
read_series = "series.csv"
"""
ROW = "0\t2e-08\t1.5\t2.0\t90000\t8000\n2\t2e-08\t1.5\t2.0\t80000\t9000\n"


def test_flow_file_takes_files_with_reader_options(tmp_path):
    for name in ("set.tsv", "reset.tsv"):
        (tmp_path / name).write_text(ROW)
    (tmp_path / "cycling.csv").write_text("C4,1.0,778,SET,1.3,3,0,1e-06\n")
    (tmp_path / "series.csv").write_text("778,1.0,8000\n")
    (tmp_path / "cells.csv").write_text("resistance_ohm\n100\n200\n")
    (tmp_path / "FLOW.toml").write_text(FLOW)
    config = FlowConfig.from_toml(tmp_path / "FLOW.toml")
    assert config.distribution.files == ((tmp_path / "cells.csv").resolve(),)
    assert [p.name for p in config.pulse.files] == ["set.tsv", "reset.tsv"]
    options = config.pulse.fit_options()
    assert options.pulsed_lines == ("bl", "sl") and options.v_read == 0.2 and options.header is False
    assert options.cycling == (tmp_path / "cycling.csv").resolve() and options.read_series.name == "series.csv"
    table = read_files(config.pulse.files, "pulse", options)
    assert list(table.amplitude) == [2.0, 2.0, -2.0, -2.0] and table.read_voltage == 0.2
    key = config.pulse.key()
    (tmp_path / "reset.tsv").write_text(ROW.replace("9000", "9100"))
    assert config.pulse.key() != key  # a changed file changes the stage key
    key = config.pulse.key()
    (tmp_path / "cycling.csv").write_text("C4,1.0,778,RESET,2.5,0,3,1e-06\n")
    assert config.pulse.key() != key  # so does a changed cycling log


@pytest.mark.parametrize("text, message", [
    ("[measurements.pulse]\nfiles = ['nope.tsv']\n", "nope.tsv does not exist"),
    ("[measurements.pulse]\nfiles = []\ncolour = 1\n", r"unknown key\(s\) colour"),
    ("[measurements]\npulse = 3\n", "expected a file name or a table"),
])
def test_flow_file_errors_name_the_key(tmp_path, text, message):
    (tmp_path / "FLOW.toml").write_text(text)
    with pytest.raises(CircuitkitError, match=message):
        FlowConfig.from_toml(tmp_path / "FLOW.toml")


def test_the_demo_fits_the_bundled_real_data(tmp_path):
    config = demo_flow(tmp_path)
    assert config.iv is None
    for spec in (config.levels, config.pulse, config.distribution):
        assert all(p.exists() and "rram-1t1r-130nm" in str(p) for p in spec.files)
        assert spec.read_voltage == 0.2
    assert config.distribution.states == ("LRS", "HRS")
    # the pulse fit splits its rate spread with the bundled cycling log and read series
    assert config.pulse.cycling.name == "endurance_log.csv.gz" and config.pulse.cycling.exists()
    assert config.pulse.read_series.name == "ret1.csv.gz" and config.pulse.read_series.exists()
