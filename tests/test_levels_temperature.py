"""Temperature-series fit of the gap conduction's activation energy (issue 15, item 1).

The data are made in real ngspice: the compiled rram_hfox.va with a known eac, the same
cells read 0 - 0.35 V at 27, 85 and 125 C (DC sweeps, `levels.ngspice_reads`), with read
noise and an instrument offset per cell and file. `circuitkit fit --kind levels
--temperatures ...` must recover eac inside its 95 % interval; one temperature leaves it
undetermined (flagged, the start card's value kept); wrong temperature labels move it off.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from circuitkit.cli import main
from circuitkit.device.levels import ngspice_reads
from circuitkit.device.model import ModelCard

pytestmark = pytest.mark.spice

TRUE_EAC = 0.2  # eV; the start card (the .va defaults) has 0.05
TEMPERATURES = (27.0, 85.0, 125.0)


def _truth() -> ModelCard:
    return ModelCard.default(eac=TRUE_EAC)


def _gaps(card: ModelCard) -> np.ndarray:
    """Two cells at gmin (the fit's i0 rule puts the most conductive 1 % there), the rest
    spread from LRS to HRS (about 10 kohm .. 250 kohm at 0.2 V)."""
    gmin = card.value("gmin")
    return np.concatenate([[gmin, gmin], np.linspace(gmin + 0.02e-9, 1.0e-9, 28)])


def _write(path: Path, volts: np.ndarray, currents: np.ndarray, rng: np.random.Generator) -> Path:
    lines = ["address,voltage,current"]
    for cell, current in enumerate(currents):
        offset = rng.normal(0.0, 2e-9)  # the instrument's zero, one per cell and file
        noisy = current * (1 + rng.normal(0.0, 0.003, current.size)) + offset
        lines += [f"c{cell:02d},{v:.6g},{i:.8e}" for v, i in zip(volts, noisy)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def series_files(tmp_path_factory) -> list[Path]:
    """The same 30 cells read at 27, 85 and 125 C in ngspice, one CSV per temperature."""
    out = tmp_path_factory.mktemp("levels-temperature")
    card, rng = _truth(), np.random.default_rng(15)
    files = []
    for temp in TEMPERATURES:
        volts, currents = ngspice_reads(card, _gaps(card), 0.35, temp, out / f"ngspice_{temp:g}")
        files.append(_write(out / f"reads_{temp:g}C.csv", volts, currents, rng))
    return files


def _fit(files: list[Path], temperatures: str | None, out: Path, *extra: str) -> dict:
    argv = ["fit", *map(str, files), "--kind", "levels", "-o", str(out), "-q", *extra]
    if temperatures is not None:
        argv += ["--temperatures", temperatures]
    assert main(argv) == 0
    return json.loads((out / "fit_report.json").read_text())


@pytest.fixture(scope="module")
def series_fit(series_files, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fit-series")
    return _fit(series_files, "27,85,125", out) | {"outdir": out}


def test_a_temperature_series_recovers_a_known_activation_energy(series_fit):
    row = series_fit["parameters"]["eac"]
    assert row["ci95"] is not None, row
    low, high = row["ci95"]
    assert row["vary"] and low <= TRUE_EAC <= high, row
    assert high - low < 0.05, row  # determined, not merely bracketed
    assert not [f for f in series_fit["flags"] if f["what"] == "eac"], series_fit["flags"]
    series = series_fit["fit_metrics"]["temperature_series"]
    assert series["eac_fitted"] and series["distinct_temperatures_c"] == list(TEMPERATURES)
    assert [f["temperature_c"] for f in series["files"]] == list(TEMPERATURES)
    assert all(f["cells"] == 30 and f["points"] == 30 * 36 for f in series["files"])
    # the rest of the shape is the truth's too
    assert series_fit["parameters"]["v0"]["value"] == pytest.approx(0.2, rel=0.05)
    assert series_fit["parameters"]["g_h"]["value"] == pytest.approx(0.7e-9, rel=0.1)
    # ngspice at every temperature reads what the Python equation reads, and the data
    spice = series_fit["ngspice_metrics"]
    assert [f["temperature_c"] for f in spice["by_file"]] == list(TEMPERATURES)
    for by_file in spice["by_file"]:
        assert by_file["max_relative_difference_ngspice_vs_python"] < 1e-6
        assert by_file["median_rms_relative_error_ngspice_vs_data"] < 0.01


def test_the_card_carries_the_fitted_activation_energy(series_fit, tmp_path_factory):
    card = ModelCard.load(series_fit["outdir"] / "model_card.json")
    assert card.value("eac") == pytest.approx(series_fit["parameters"]["eac"]["value"])
    assert "eac" in card.provenance["fitted"]


def test_one_temperature_leaves_eac_undetermined_and_keeps_the_start_cards(series_files, tmp_path):
    report = _fit(series_files[1:2], "85", tmp_path)
    row = report["parameters"]["eac"]
    assert not row["vary"] and row["value"] == pytest.approx(ModelCard.default().value("eac"))
    flags = [f for f in report["flags"] if f["what"] == "eac"]
    assert flags and flags[0]["problem"] == "undetermined" and "85 C" in flags[0]["message"]
    assert report["status"] == "flagged"
    assert not report["fit_metrics"]["temperature_series"]["eac_fitted"]
    assert any("eac NOT fitted" in line for line in report["settings"]["summary"])


@pytest.mark.slow
def test_wrong_temperature_labels_move_the_activation_energy_off(series_files, tmp_path):
    """The fit uses the labels: 27/85/125 C reads called 27/50/75 C need a larger eac."""
    report = _fit(series_files, "27,50,75", tmp_path, "--no-ngspice")
    assert report["parameters"]["eac"]["ci95"] is not None, report["parameters"]["eac"]
    low, high = report["parameters"]["eac"]["ci95"]
    assert low > TRUE_EAC * 1.5, report["parameters"]["eac"]


def test_several_levels_files_need_their_temperatures(series_files, tmp_path, capsys):
    base = ["fit", *map(str, series_files), "--kind", "levels", "-o", str(tmp_path), "-q", "--no-ngspice"]
    assert main(base) == 2
    assert "temperature series" in capsys.readouterr().err
    assert main(base + ["--temperatures", "27,85"]) == 2
    assert "2 temperature(s) (27, 85) for 3 levels file(s)" in capsys.readouterr().err
    assert not (tmp_path / "model_card.json").exists()
