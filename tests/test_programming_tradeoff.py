"""From programming condition to bit errors: cells programmed in ngspice feed the read campaign
as its device distribution; weaker programming gives a wider distribution and a higher BER."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit.program.tradeoff import TradeoffConfig, offset_ber, run_tradeoff
from circuitkit.sense_offset import OffsetFit

pytestmark = [pytest.mark.spice, pytest.mark.slow]


def test_lower_compliance_gives_a_wider_distribution_and_a_higher_ber(tmp_path, monkeypatch):
    from circuitkit.device.nonideality import CHOSEN, SUMMARY, ProgrammedStates

    config = TradeoffConfig(v_wl=(1.0, 2.0), verify=(False,), cells=320, batch_size=80, read_samples=64,
                            offset_samples=16, networks=("bnn-fc",), trials=3)
    hrs_fits = []
    from_card = ProgrammedStates.from_model_card.__func__
    monkeypatch.setattr(ProgrammedStates, "from_model_card", classmethod(
        lambda cls, card, model=SUMMARY: hrs_fits.append(model) or from_card(cls, card, model)))
    result = run_tradeoff(config, tmp_path, log=None)
    assert hrs_fits.count(CHOSEN) == 1  # the HRS does not depend on the condition: fitted once per sweep
    rows = {(r["v_wl"], r["architecture"]): r for r in result.rows}
    weak, strong = rows[(1.0, "2t2r")], rows[(2.0, "2t2r")]
    for architecture in ("2t2r", "1t1r"):
        print(architecture, {k: (rows[(1.0, architecture)][k], rows[(2.0, architecture)][k]) for k in (
            "sigma_ln_lrs", "energy_per_bit_j", "ber", "ber_ci_low", "ber_ci_high", "ber_mc", "ber_mc_ci_low",
            "ber_mc_ci_high", "ber_mc_reads", "reference_1t1r_ohm")})
    assert weak["sigma_ln_lrs"] > strong["sigma_ln_lrs"]
    assert weak["energy_per_bit_j"] < strong["energy_per_bit_j"]
    for architecture in ("1t1r", "2t2r"):  # intervals separate, by both methods where both apply
        weak, strong = rows[(1.0, architecture)], rows[(2.0, architecture)]
        assert weak["ber_ci_low"] > strong["ber_ci_high"]
    for architecture in ("1t1r", "2t2r"):  # also by the ngspice Monte Carlo of each read
        assert rows[(1.0, architecture)]["ber_mc_ci_low"] > rows[(2.0, architecture)]["ber_mc_ci_high"]
    # the network's accuracy follows the BER (injection core at each point)
    assert rows[(1.0, "2t2r")]["accuracy_bnn-fc_ci_high"] < rows[(2.0, "2t2r")]["accuracy_bnn-fc_ci_low"]
    # the read campaign took the programmed cells as its device distribution, with their count
    spread = json.loads((tmp_path / "wl1_w1e-06_single" / "read_2t2r" / "campaign.json").read_text())["device_spread"]
    assert "programmed with wl1_w1e-06_single (320 cells" in json.dumps(spread)
    # the 1T1R reads were single-ended against the reference the integral assumes (geometric mean of the medians)
    one_t_one_r = json.loads((tmp_path / "wl1_w1e-06_single" / "read_1t1r" / "campaign.json").read_text())
    assert one_t_one_r["read_timing_by_vdd"]["1.8"]["reference_ohm"] == rows[(1.0, "1t1r")]["reference_1t1r_ohm"]
    # the mc estimate and the offset integral agree within their intervals, both architectures, at the wide
    # (WL 1.0 V) and the narrow (2.0 V) spread
    for v_wl, architecture in itertools.product((1.0, 2.0), ("1t1r", "2t2r")):
        row = rows[(v_wl, architecture)]
        assert row["ber_mc_reads"] == 2 * config.read_samples
        assert row["ber_mc_ci_low"] <= row["ber_ci_high"] and row["ber_ci_low"] <= row["ber_mc_ci_high"]


def test_the_offset_integral_is_the_probit_model_over_the_cells():
    """Against a direct Monte Carlo of the decision: pairs drawn from the cells, an offset
    drawn per read."""
    rng = np.random.default_rng(3)
    lrs, hrs = np.exp(rng.normal(np.log(10e3), 0.6, 300)), np.exp(rng.normal(np.log(40e3), 0.5, 400))
    fit = OffsetFit(0.05, 0.3, np.diag([1e-4, 1e-4]), np.zeros(3), np.ones(3), np.zeros(3), False)
    n = 400_000
    x = np.log(rng.choice(hrs, n)) - np.log(rng.choice(lrs, n))
    threshold = fit.x0 + fit.sigma * rng.standard_normal(n)
    direct_plus = np.mean(x < threshold)           # stored +1 read as -1
    direct_minus = np.mean(-x > threshold)         # stored -1 (BL = HRS, BLb = LRS) read as +1
    estimate, _, _, by_stored = offset_ber(fit, lrs, hrs, "2t2r")
    assert by_stored[+1] == pytest.approx(direct_plus, abs=4e-3)
    assert by_stored[-1] == pytest.approx(direct_minus, abs=4e-3)
    reference = np.sqrt(np.median(lrs) * np.median(hrs))
    cell = np.where(rng.random(n) < 0.5, rng.choice(lrs, n), rng.choice(hrs, n))
    is_lrs = np.isin(cell, lrs)
    read_plus = np.log(reference / cell) > threshold
    direct = 0.5 * (np.mean(~read_plus[is_lrs]) + np.mean(read_plus[~is_lrs]))
    assert offset_ber(fit, lrs, hrs, "1t1r")[0] == pytest.approx(direct, abs=4e-3)


def test_the_program_command_refuses_bad_options_before_any_simulation(tmp_path, capsys):
    from circuitkit.cli import main

    with pytest.raises(CircuitkitError, match=r"cells=319: .* at least 320"):  # the config checks it, named
        TradeoffConfig(cells=319)
    assert main(["program", "--cells", "100", "-o", str(tmp_path)]) == 2
    assert "cells=100" in (err := capsys.readouterr().err) and "at least 320" in err and not any(tmp_path.iterdir())
    with pytest.raises(SystemExit):
        main(["program", "--verify", "maybe", "-o", str(tmp_path)])
    assert "on, off or on,off" in capsys.readouterr().err
