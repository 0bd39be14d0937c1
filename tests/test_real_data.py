"""The bundled real measurements (characterization/rram-1t1r-130nm/): intact, licensed, readable."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from circuitkit.measurements import read_distribution, read_iv, read_pulse

DATA = Path(__file__).resolve().parents[1] / "characterization" / "rram-1t1r-130nm"
README = (DATA / "README.md").read_text()
ROWS = {"set_sweep.tsv": 32768, "reset_sweep.tsv": 32768, "read_voltage_sweep.tsv": 36864, "read_mlc_good.tsv": 1024,
        "read_mlc_bad.tsv": 1024, "newwrite.tsv": 1024, "prebake85.tsv": 16384, "postbake85.tsv": 16384,
        "prebake130.tsv": 16384, "postbake130.tsv": 16384, "ret1.csv": 10000, "endurance_log.csv": 13621}
SWEEP_COLUMNS = {"address": 1, "width": 2, "wl_voltage": 3, "line_voltage": 4, "r_before": 5, "r_after": 6}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_bundled_file_is_the_published_one(name):
    data = gzip.decompress((DATA / f"{name}.gz").read_bytes())
    assert data.count(b"\n") == ROWS[name]
    stem = name.split(".")[0]
    digest = re.search(rf"\b{stem}\s+([0-9a-f]{{16}})", README).group(1)
    assert hashlib.sha256(data).hexdigest()[:16] == digest


def test_licence_beside_the_data():
    licence = (DATA / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2021 Akash Levy" in licence
    assert "Copyright (c) 2021 Akash Levy" in README and "/work/" not in README and "shared" not in README


def test_sweeps_read_with_the_documented_options():
    set_sweep = read_pulse(DATA / "set_sweep.tsv.gz", columns=SWEEP_COLUMNS, pulsed_line="bl", read_voltage=0.2)
    reset_sweep = read_pulse(DATA / "reset_sweep.tsv.gz", columns=SWEEP_COLUMNS, pulsed_line="sl", read_voltage=0.2)
    assert len(set_sweep) == len(reset_sweep) == 32768 and not set_sweep.source.dropped
    assert set(np.unique(set_sweep.width)) == {2e-8, 4e-8, 1e-7, 2e-7, 4e-7, 1e-6, 2e-6}
    assert set_sweep.amplitude.min() == 0.5 and reset_sweep.amplitude.max() == -0.5
    assert 80e3 < np.median(set_sweep.r_before) < 90e3 and np.median(set_sweep.r_after) < 10e3


def test_distributions_and_read_iv_read():
    bake = read_distribution(DATA / "postbake85.tsv.gz", columns={"resistance": 2, "address": 1}, read_voltage=0.2)
    assert bake.source.rows_in_file == 16384
    assert bake.source.dropped == {"open_circuit": 2}  # two reads above 1 Gohm: open circuits, counted
    levels = read_iv(DATA / "read_voltage_sweep.tsv.gz", columns={"address": 1, "voltage": 2, "current": 3},
                     sweep_rate=1.0)
    assert len(levels) == 36864 and len(np.unique(levels.address)) == 1024
