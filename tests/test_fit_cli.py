"""`circuitkit fit` end to end on the bundled examples, with the real ngspice re-simulation."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from circuitkit.cli import main
from circuitkit.device.model import ModelCard

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "characterization"

pytestmark = pytest.mark.spice


@pytest.fixture(scope="module")
def iv_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit-iv")
    assert main(["fit", str(EXAMPLES / "iv_sweep.csv"), "--kind", "iv", "-o", str(out), "-q"]) == 0
    return out


def _report(out: Path) -> dict:
    return json.loads((out / "fit_report.json").read_text())


def test_iv_fit_writes_card_report_and_plot(iv_fit):
    report = _report(iv_fit)
    assert report["data"]["rows"] == 1001
    assert set(report["runtime_s"]) == {"read", "fit", "ngspice", "plot", "total"}
    for name in ("i0", "v0", "gmax", "vel0", "gamma0", "beta", "gap_init"):
        row = report["parameters"][name]
        assert row["vary"] and row["stderr"] > 0
    assert report["parameters"]["g0"] == {"value": 2.5e-10, "stderr": None, "unit": "m", "vary": False}
    png = (iv_fit / "fit.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_ngspice_resimulation_error_matches_the_fit_error(iv_fit):
    report = _report(iv_fit)
    fit, spice = report["fit_metrics"], report["ngspice_metrics"]
    print(f"rms ln-current: fit {fit['rms_ln_current']:.5f}, ngspice {spice['rms_ln_current']:.5f}")
    assert spice["points"] == fit["points"] == 1001
    assert abs(spice["rms_ln_current"] - fit["rms_ln_current"]) < 0.002
    assert spice["set_voltage_model"] == pytest.approx(fit["set_voltage_model"], abs=0.03)
    assert fit["rms_ln_current"] < 0.1  # the 1 % noise plus the cycle-to-cycle spread of the example


def test_card_provenance_names_the_data(iv_fit):
    card = ModelCard.load(iv_fit / "model_card.json")
    data = (EXAMPLES / "iv_sweep.csv").read_bytes()
    assert card.provenance["data_sha256"] == hashlib.sha256(data).hexdigest()
    assert card.provenance["kind"] == "iv"
    assert card.provenance["ngspice_quality"]["rms_ln_current"] > 0
    assert card.parameters["c2c_sigma"] > 0
    assert set(card.instance_defaults) == {"gmin", "gmax"}  # the bounds it was fitted with, written out


def test_pulse_and_distribution_fits_chain_on_the_iv_card(iv_fit, tmp_path):
    card = str(iv_fit / "model_card.json")
    # the synthetic table was made without an access transistor: V_BL - V_SL lies across the cell
    assert main(["fit", str(EXAMPLES / "pulse_table.csv"), "--kind", "pulse", "--card", card, "--no-transistor",
                 "-o", str(tmp_path / "pulse"), "-q"]) == 0
    pulse = _report(tmp_path / "pulse")
    assert abs(pulse["ngspice_metrics"]["rms_ln_r_after"] - pulse["fit_metrics"]["rms_ln_r_after"]) < 0.005
    assert pulse["fit_metrics"]["median_relative_r_after_error"] < 0.03

    assert main(["fit", str(EXAMPLES / "resistance_distribution.csv"), "--kind", "distribution",
                 "--card", str(tmp_path / "pulse" / "model_card.json"), "-o", str(tmp_path / "dist"), "-q"]) == 0
    dist = ModelCard.load(tmp_path / "dist" / "model_card.json")
    assert dist.variability["median_r_lrs"] == pytest.approx(10.5e3, rel=0.02)
    assert dist.variability["median_r_hrs"] == pytest.approx(85.8e3, rel=0.05)
    assert dist.provenance["based_on"]["kind"] == "pulse"
    for state, metrics in _report(tmp_path / "dist")["ngspice_metrics"].items():
        print(state, metrics)
        assert abs(metrics["median_relative_error"]) < 0.03
        assert abs(metrics["sigma_lnR_error"]) < 0.03
        assert metrics["ks_distance_to_data"] < 0.08


def test_bad_file_is_a_clear_error_without_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,voltage_V,current_uA\n0,0,0\n1,0.5,oops\n")
    proc = subprocess.run([sys.executable, "-m", "circuitkit.cli", "fit", str(bad), "--kind", "iv"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{bad}, line 3 (data row 2), column 'current_uA': 'oops' is not a number" in proc.stderr


def test_example_generator_is_bit_exact(tmp_path):
    subprocess.run([sys.executable, str(EXAMPLES / "generate_examples.py"), "-o", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("iv_sweep.csv", "pulse_table.csv", "resistance_distribution.csv", "truth.json"):
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name
