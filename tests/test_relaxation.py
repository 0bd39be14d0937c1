"""Resistance relaxation (device.relaxation): the fit recovers known drift, predicts a
temperature between the two it was fitted at, carries on the card, moves campaign BERs
the way the model says, and bad retention input names its file and column."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard
from circuitkit.device.relaxation import (
    ASSUMED_TIME_EXPONENT,
    RelaxationModel,
    RetentionPairs,
    RetentionRead,
    fit_relaxation,
    parse_duration,
    relax_state,
)
from circuitkit.measurements import MeasurementError, read_retention

# A device that relaxes like the bundled array (spread growing with R, a small drift), with
# a time exponent and an activation energy to recover.
TRUTH = RelaxationModel(activation_energy_ev=0.6, time_exponent=0.2, m0=0.01, m1=0.03, m2=-0.01,
                        s0=-3.3, s1=0.9, s2=-0.15)


def _pairs(truth, temps, durations, n, seed, unrelated=0.0) -> RetentionPairs:
    """Before/after pairs of fresh cells (R at programming log-uniform over 8 k .. 200 kohm),
    `unrelated` of them with an after read drawn independently (a failed read)."""
    rng = np.random.default_rng(seed)
    parts = []
    for g, temp in enumerate(temps):
        for duration in durations:
            r0 = np.exp(rng.uniform(np.log(8e3), np.log(2e5), n))
            r1 = truth.sample(r0, duration, temp, rng)
            bad = rng.random(n) < unrelated
            r1[bad] = np.exp(rng.normal(np.log(1e5), 1.5, bad.sum()))
            parts.append((r0, r1, np.full(n, float(duration)), np.full(n, float(temp)), np.zeros(n), np.full(n, g)))
    c = [np.concatenate(x) for x in zip(*parts)]
    return RetentionPairs(c[0], c[1], c[2], c[3], c[4], c[5].astype(int), tuple(f"{t:g} C" for t in temps),
                          cell=np.arange(len(c[0])).astype(str))


@pytest.fixture(scope="module")
def two_temperature_fit():
    """Fitted at 85 and 130 C, bakes of 1 h and 10 h (so alpha and Ea are both identified)."""
    pairs = _pairs(TRUTH, (85.0, 130.0), (3600.0, 36000.0), 700, seed=5, unrelated=0.05)
    return fit_relaxation(pairs)


def test_the_fit_recovers_known_drift_exponent_widening_and_activation_energy(two_temperature_fit):
    fit = two_temperature_fit
    rows = fit.parameters
    for name in ("activation_energy_ev", "time_exponent", "s0", "s1", "s2", "m0", "m1"):
        low, high = rows[name]["ci95"]
        truth = getattr(TRUTH, name)
        print(f"{name}: {rows[name]['value']:.4f} [{low:.4f}, {high:.4f}] truth {truth}")
        assert low <= truth <= high, name
    assert rows["activation_energy_ev"]["interval"].startswith("profile")
    assert abs(rows["activation_energy_ev"]["value"] - 0.6) < 0.1
    assert abs(rows["time_exponent"]["value"] - 0.2) < 0.03
    # The failed reads are found, not taken for relaxation.
    for name, entry in fit.unrelated.items():
        assert 0.02 < entry["fraction"] < 0.09, name
    assert not any(flag["problem"] in ("assumed", "conditional") for flag in fit.flags)


def test_fitted_at_two_temperatures_it_predicts_a_third_in_between(two_temperature_fit):
    """The spread of ln(R_after/R_before) measured at 105 C (3 h bake, cells never fitted)
    lies inside the model's band in every level bin; the band comes from the 85/130 C fit."""
    model = two_temperature_fit.model
    middle = _pairs(TRUTH, (105.0,), (3 * 3600.0,), 4000, seed=11)
    d = np.log(middle.r_after / middle.r_before)
    x = np.log(middle.r_before)
    edges = np.quantile(x, np.linspace(0, 1, 6))
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x <= hi)
        r = float(np.exp(np.median(x[sel])))
        observed = float(np.std(d[sel] - model.median_shift(middle.r_before[sel], 3 * 3600.0, 105.0), ddof=1))
        sampling = observed / np.sqrt(2 * (sel.sum() - 1)) * 1.96  # the measured spread's own 95 % half-width
        band_low, band_high = model.spread_interval(r, 3 * 3600.0, 105.0)
        predicted = float(model.spread(r, 3 * 3600.0, 105.0))
        print(f"R {r:8.0f}: measured spread {observed:.4f} +- {sampling:.4f}, predicted {predicted:.4f} "
              f"[{float(band_low):.4f}, {float(band_high):.4f}]")
        assert band_low - sampling <= observed <= band_high + sampling
        # ... and not the spread of either end temperature: the band tells 105 C apart.
        for end in (85.0, 130.0):
            assert not (model.spread_interval(r, 3 * 3600.0, end)[0] <= predicted
                        <= model.spread_interval(r, 3 * 3600.0, end)[1])


def test_one_bake_duration_per_temperature_holds_alpha_and_says_ea_is_conditional():
    pairs = _pairs(TRUTH, (85.0, 130.0), (3600.0,), 400, seed=2)
    fit = fit_relaxation(pairs, profile=False)
    problems = {flag["problem"] for flag in fit.flags}
    assert {"assumed", "conditional"} <= problems
    assert fit.model.time_exponent == ASSUMED_TIME_EXPONENT and "time_exponent" in fit.model.fixed
    assert "assumed" in fit.model.extrapolation(10 * 365.25 * 86400, 85.0)
    # Inside the data: the measured 1 h at a temperature between the bakes (alpha x Ea is identified);
    # 5 h there lies inside the equivalent-time span but rests on the assumed exponent.
    assert fit.model.extrapolation(3600.0, 100.0) == ""
    assert "rests on the time exponent" in fit.model.extrapolation(5 * 3600.0, 100.0)
    one = fit_relaxation(_pairs(TRUTH, (85.0,), (3600.0, 36000.0), 300, seed=3), profile=False)
    assert one.model.activation_energy_ev == 0.0 and "not_identified" in {f["problem"] for f in one.flags}


def test_the_card_carries_the_model_and_older_cards_still_load(tmp_path):
    card = ModelCard.default().with_values(relaxation=TRUTH.to_dict())
    path = card.save(tmp_path / "card.json")
    loaded = ModelCard.load(path)
    assert loaded.relaxation_model() == dataclasses.replace(TRUTH)
    assert loaded.to_json() == card.to_json()
    plain = ModelCard.default()
    assert "relaxation" not in json.loads(plain.to_json())  # old cards stay byte-identical
    assert ModelCard.load(plain.save(tmp_path / "old.json")).relaxation_model() is None
    broken = json.loads(card.to_json())
    broken["relaxation"]["time_exponent"] = "fast"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(CircuitkitError, match="broken.json, relaxation"):
        ModelCard.load(tmp_path / "broken.json")


def test_relaxed_states_and_the_drift_hook_follow_the_model():
    from circuitkit.corners.config import relax_device
    from circuitkit.device.distributions import Lognormal
    from circuitkit.device.nonideality import DeviceNonideality

    state = Lognormal.from_median(50e3, 0.2)
    week = relax_state(state, TRUTH, parse_duration("7d"), 85.0)
    assert week.median == pytest.approx(50e3 * np.exp(TRUTH.median_shift(50e3, 7 * 86400, 85.0)))
    assert week.sigma == pytest.approx(np.hypot(0.2, TRUTH.spread(50e3, 7 * 86400, 85.0)))
    assert relax_state(state, TRUTH, 0.0, 85.0) is state
    device = DeviceNonideality.given(10e3, 0.05, 80e3, 0.3)
    assert relax_device(device, RetentionRead(0, 85, TRUTH.to_dict())) is device
    # The hook draws what the model says: median and spread of many cells after 1 day at 85 C.
    rng = np.random.default_rng(0)
    after = TRUTH.sample(np.full(200_000, 30e3), 86400.0, 85.0, rng)
    change = np.log(after / 30e3)
    assert np.median(change) == pytest.approx(float(TRUTH.median_shift(30e3, 86400.0, 85.0)), abs=3e-3)
    assert np.std(change) == pytest.approx(float(TRUTH.spread(30e3, 86400.0, 85.0)), rel=0.01)


def test_missing_time_or_temperature_columns_name_the_file_and_the_column(tmp_path):
    path = tmp_path / "bake.csv"
    path.write_text("address,r_before,resistance\n1,10000,10100\n2,20000,21000\n3,40000,39000\n")
    with pytest.raises(MeasurementError, match=r"bake\.csv.*(temperature|time)"):
        read_retention(path)
    with pytest.raises(MeasurementError, match=r"bake\.csv.*temperature"):
        read_retention(path, constants={"time": 3600.0})
    with pytest.raises(MeasurementError, match=r"bake\.csv.*time"):
        read_retention(path, constants={"temperature": 85.0})
    table = read_retention(path, constants={"time": 3600.0, "temperature": 85.0})
    assert table.is_pairs and table.r_before.tolist() == [1e4, 2e4, 4e4]
    hours = tmp_path / "hours.csv"
    hours.write_text("cell,time_h,temp_C,resistance_kohm\nA,0,25,10\nA,2,85,11\n")
    series = read_retention(hours)
    assert series.time.tolist() == [0.0, 7200.0] and series.resistance.tolist() == [1e4, 1.1e4]


def test_a_campaign_relaxes_its_programmed_device_once_whatever_is_replaced():
    from circuitkit.corners.config import CampaignConfig
    from circuitkit.device.nonideality import DeviceNonideality, StuckCells

    device = DeviceNonideality.given(10e3, 0.05, 80e3, 0.3)
    config = CampaignConfig(device=device, retention=RetentionRead("1d", 85, TRUTH.to_dict()))
    assert config.programmed == device and config.device != device
    again = dataclasses.replace(config, samples=7)
    assert again.device == config.device and again.programmed == device
    assert dataclasses.replace(config, retention=None).device == device
    assert CampaignConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # The relaxed device with stuck cells added: programmed from the same states (relaxed once,
    # not twice), the stuck cells kept; the settings file records the programmed device.
    stuck = StuckCells(1e-3, 2e-3)
    with_stuck = dataclasses.replace(config, device=dataclasses.replace(config.device, stuck=stuck))
    assert with_stuck.programmed == dataclasses.replace(device, stuck=stuck)
    assert with_stuck.device.states == config.device.states and with_stuck.device.stuck == stuck
    assert with_stuck.to_dict()["device"] == dataclasses.replace(device, stuck=stuck).to_dict()


def test_read_after_needs_a_card_with_a_relaxation_model(tmp_path):
    from circuitkit.corners.cli import retention_read

    with pytest.raises(CircuitkitError, match=r"plain\.json has none"):
        retention_read(ModelCard.default(), 86400.0, 85.0, tmp_path / "plain.json")
    with pytest.raises(CircuitkitError, match="read time"):
        parse_duration("ten years")


@pytest.mark.slow
def test_the_bundled_bakes_fit_with_half_the_85c_pairs_unrelated_and_calibrated_on_held_out_cells():
    """The real 1 h bakes at 85 and 130 C (16,384 cells each): the model's 10-90 % predictive
    interval holds about 80 % of the held-out cells' pairs; the 85 C file's unrelated
    address blocks are found (about half its pairs), the 130 C file has almost none."""
    from circuitkit.device.fit import fit_retention
    from circuitkit.measurements import ReadOptions
    from circuitkit.resources import bundled_data

    tables = []
    for name, time_s, temp in (("prebake85", 0, 25), ("postbake85", 3600, 85), ("prebake130", 0, 25),
                               ("postbake130", 3600, 130)):
        options = ReadOptions(header=False, columns={"address": 1, "resistance": 2},
                              constants={"time": time_s, "temperature": temp})
        tables.append(read_retention(bundled_data("rram-1t1r-130nm") / f"{name}.tsv.gz", options=options))
    outcome = fit_retention(tables, runs=("bake85", "bake85", "bake130", "bake130"))
    unrelated = outcome.metrics["unrelated_pairs"]
    print(json.dumps(unrelated, indent=1), outcome.metrics["cross_validation"]["all"])
    assert 0.45 < unrelated["bake85: postbake85.tsv.gz"]["fraction"] < 0.56
    assert unrelated["bake130: postbake130.tsv.gz"]["fraction"] < 0.03
    coverage = outcome.metrics["cross_validation"]["all"]
    assert 0.75 < coverage["coverage"] < 0.86
    assert outcome.card.relaxation_model().fixed["time_exponent"].startswith("held at 0.1")


# ---------------------------------------------------------------------------- campaigns (real ngspice)

# Widening only: both states spread out with time, so a 2T2R read errs more often.
WIDENING = RelaxationModel(activation_energy_ev=0.6, time_exponent=0.2, s0=-4.0, s1=0.0, s2=0.0)
# Drift only, growing with the level: HRS moves up, away from LRS; no spread is added.
SEPARATING = RelaxationModel(activation_energy_ev=0.6, time_exponent=0.2, m1=0.02, s0=-12.0)


@pytest.fixture(scope="module")
def retention_campaigns(tmp_path_factory):
    from circuitkit.corners.campaign import CampaignConfig, run_campaign
    from circuitkit.corners.reads import PcsaReadSimulator
    from circuitkit.device.nonideality import DeviceNonideality

    out = tmp_path_factory.mktemp("retention")
    device = DeviceNonideality.given(20e3, 0.3, 40e3, 0.3)  # overlapping: errors are measurable
    common = dict(corners=("tt",), vdd=(1.8,), samples=12, seed=4, method="offset", device=device, batch_size=48)

    def run(name, retention):
        config = CampaignConfig(**common, retention=retention)
        return run_campaign(config, out / name, simulator=PcsaReadSimulator(), workers=2, progress=False).table

    ten_years = parse_duration("10y")
    return {"unrelaxed": run("unrelaxed", None),
            "0s": run("0s", RetentionRead(0.0, 85.0, WIDENING.to_dict())),
            "widening": run("widening", RetentionRead(ten_years, 85.0, WIDENING.to_dict())),
            "separating": run("separating", RetentionRead(ten_years, 85.0, SEPARATING.to_dict()))}


def _rate(table):
    (rate,) = table.error_rates()
    return rate


@pytest.mark.spice
@pytest.mark.slow
def test_a_read_at_0_s_is_the_unrelaxed_campaign(retention_campaigns):
    assert retention_campaigns["0s"] == retention_campaigns["unrelaxed"]


@pytest.mark.spice
@pytest.mark.slow
def test_reading_later_moves_the_ber_the_way_the_model_says(retention_campaigns):
    fresh, wider, apart = (_rate(retention_campaigns[k]) for k in ("unrelaxed", "widening", "separating"))
    print(f"fresh {fresh.ber:.4g} [{fresh.ci_low:.4g}, {fresh.ci_high:.4g}]; widened 10 y {wider.ber:.4g} "
          f"[{wider.ci_low:.4g}, {wider.ci_high:.4g}]; separated 10 y {apart.ber:.4g} [{apart.ci_low:.4g}, "
          f"{apart.ci_high:.4g}]")
    assert wider.ci_low > fresh.ci_high  # spread added: more errors, intervals apart
    assert apart.ci_high < fresh.ci_low  # HRS drifting away from LRS: fewer errors, intervals apart


def test_the_crossbar_drift_hook_applies_a_cards_relaxation_at_its_time_and_temperature():
    """A layer read 10 years after programming at 85 C holds the states the card's relaxation
    says: the same chip (same seed) without drift, moved by the model's median shift and
    spread, cell by cell (standardised change ~ N(0, 1)); drift stays off by default."""
    from circuitkit.crossbar.layer import DRIFT_OFF, AnalogLinear, CrossbarConfig, Programmer, card_drift

    config = CrossbarConfig(levels=8, wires=None, read_noise_scale=0.0, tile_rows=32, tile_cols=8)
    programmer = Programmer(config)
    weights = np.random.default_rng(1).normal(0, 1, (40, 8))
    fitted = dataclasses.replace(TRUTH, data_span={"equivalent_time_s": [3.6e5, 3.6e7], "temperatures_c": [85, 130]})
    card = ModelCard.default().with_values(relaxation=fitted.to_dict())
    ten_years = parse_duration("10y")
    plain = AnalogLinear.program(weights, config, programmer, np.random.default_rng(7))
    later = AnalogLinear.program(weights, config, programmer, np.random.default_rng(7), drift=card_drift(card),
                                 drift_t_s=ten_years, drift_temp_c=85.0)
    assert plain.drift == DRIFT_OFF and "85 C" in later.drift and "extrapolated" in later.drift
    r = 1.0 / plain.conductance.ravel()
    change = np.log(plain.conductance.ravel() / later.conductance.ravel())
    z = (change - TRUTH.median_shift(r, ten_years, 85.0)) / TRUTH.spread(r, ten_years, 85.0)
    print(f"{z.size} cells: standardised change mean {z.mean():.3f}, sd {z.std():.3f}")
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.std() - 1) < 0.1
    assert card_drift(ModelCard.default()) is None


@pytest.mark.spice
def test_the_flow_fits_retention_and_reads_the_rare_campaign_later_cached_like_the_other_stages(tmp_path):
    """A FLOW.toml with a retention file and a [retention] table: the fit_retention stage puts
    the relaxation on the card, ber_time writes one offset-method row per read time (the 0 s
    row as programmed, the 10 y row extrapolated and saying so) with its figure, and a rerun
    skips both."""
    from circuitkit import toolchain
    from circuitkit.flow import FlowConfig
    from circuitkit.flow.stages import Flow

    pairs = _pairs(TRUTH, (85.0, 130.0), (3600.0, 36000.0), 150, seed=9)
    lines = ["address,r_before,resistance,time_h,temperature"] + [
        f"{k},{rb:.6g},{ra:.6g},{t / 3600:g},{temp:g}"
        for k, (rb, ra, t, temp) in enumerate(zip(pairs.r_before, pairs.r_after, pairs.duration_s, pairs.temp_c))]
    (tmp_path / "bakes.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "FLOW.toml").write_text(
        '[flow]\noutput = "out"\nworkers = 2\n[measurements.retention]\nfiles = ["bakes.csv"]\n'
        '[retention]\nread_after = ["0s", "10y"]\ntemp_c = 85\n'
        '[campaign]\ncorners = ["tt"]\nvdd = [1.8]\ntemp_c = [27]\nsamples = 8\nbatch_size = 48\n'
        '[campaign.rare]\nsamples = 4\n')
    config = FlowConfig.from_toml(tmp_path / "FLOW.toml")
    messages: list[str] = []

    def run() -> Flow:
        flow = Flow(config, log=messages.append)
        flow.fingerprint = toolchain.toolchain().fingerprint()
        flow._ber_time_stage(flow._fit_stages())
        return flow

    flow = run()
    card = ModelCard.load(tmp_path / "out" / "fit_retention" / "model_card.json")
    assert card.relaxation_model().time_exponent == pytest.approx(0.2, abs=0.05)
    rows = flow.records["ber_time"].summary["rows"]
    assert [row["read_after"] for row in rows] == ["0 s", "10 y"] and rows[0]["method"].startswith("offset")
    assert rows[0]["extrapolation"] == "" and rows[1]["extrapolation"].startswith("extrapolated")
    assert (tmp_path / "out" / "ber_time" / "ber_vs_time.png").exists()
    csv_rows = (tmp_path / "out" / "ber_time" / "ber_vs_time.csv").read_text().splitlines()
    assert len(csv_rows) == 3 and "extrapolation" in csv_rows[0]
    messages.clear()
    run()
    assert "[skip] fit_retention: up to date" in messages and "[skip] ber_time: up to date" in messages


def test_series_files_pair_by_run_and_address_and_a_single_cells_series_gives_its_read_noise(tmp_path):
    """Pre/post files of one run pair their cells by address (the bundled bakes' layout); a
    cell read hundreds of times is a time series: its read noise is measured (here 0.02 per
    read, known) and taken out of the spread; alone, it gives no model and says why."""
    from circuitkit.device.fit import fit_retention
    from circuitkit.device.relaxation import pairs_from_tables

    rng = np.random.default_rng(4)
    r0 = np.exp(rng.uniform(np.log(9e3), np.log(1e5), 50))
    pre, post, series = tmp_path / "pre.tsv", tmp_path / "post.tsv", tmp_path / "series.csv"
    pre.write_text("".join(f"{2 * k}\t{r}\n" for k, r in enumerate(r0)))
    post.write_text("".join(f"{2 * k}\t{r}\n" for k, r in enumerate(TRUTH.sample(r0, 3600.0, 85.0, rng))))
    t = np.sort(rng.uniform(0, 500, 400))
    series.write_text("cell,time,temperature,resistance\n" + "".join(
        f"7,{ti},25,{1e4 * np.exp(rng.normal(0, 0.02))}\n" for ti in t))
    read = lambda path, time_s, temp: read_retention(  # noqa: E731
        path, header=False, columns={"address": 1, "resistance": 2}, constants={"time": time_s, "temperature": temp})
    tables = [read(pre, 0, 25), read(post, 3600, 85)]
    pairs, apart = pairs_from_tables(tables, runs=("bake", "bake"))
    assert len(pairs) == 50 and not apart
    assert set(pairs.duration_s) == {3600.0} and set(pairs.temp_c) == {85.0}
    np.testing.assert_allclose(np.sort(pairs.r_before), np.sort(r0), rtol=1e-12)
    alone = fit_retention([read_retention(series)])
    noise = alone.metrics["time_series"]["run:7"]["read_noise_sigma_ln"]
    assert noise == pytest.approx(0.02, rel=0.12)
    assert alone.card.relaxation_model() is None and alone.flags[0]["problem"] == "no_model"


def test_the_plot_and_the_coverage_predict_the_change_the_fit_fitted_after_a_later_first_read(tmp_path, monkeypatch):
    """Pairs whose before read came 100 h after programming (then 1 h at 85 C): the pair
    change `RelaxationModel.pair_change` (what `predictive_coverage` and the fit plot use) is
    the fit's own likelihood model, mean and variance, with both reads' noise; and the plot
    draws exactly it (the change from the before read, not the spread since programming
    rescaled, which is 0.8x of it here)."""
    from types import SimpleNamespace

    import circuitkit.report.fit_plots as fit_plots
    from circuitkit.device.relaxation import T_REF_C, _Likelihood

    rng = np.random.default_rng(2)
    n, read_noise, before = 600, 0.01, 100 * 3600.0
    r_before = np.exp(rng.uniform(np.log(8e3), np.log(2e5), n))
    pairs = RetentionPairs(r_before, r_before * np.exp(rng.normal(0.0, 0.05, n)), np.full(n, 3600.0),
                           np.full(n, 85.0), np.full(n, before), np.zeros(n, dtype=int), ("85 C",))
    theta = {name: getattr(TRUTH, name) for name in ("activation_energy_ev", "time_exponent", "m0", "m1", "m2",
                                                       "s0", "s1", "s2")} | {"unrelated_mean": 0.0,
                                                                              "unrelated_log_sigma": 0.0}
    fitted = _Likelihood(pairs, T_REF_C, read_noise)._parts(theta)
    mean, sd = TRUTH.pair_change(pairs.r_before, pairs.t_before_s, pairs.duration_s, pairs.temp_c, read_noise)
    np.testing.assert_allclose(mean, fitted["mean"], rtol=1e-12)
    np.testing.assert_allclose(sd ** 2 + 1e-10, fitted["var"], rtol=1e-12)

    figures = []
    monkeypatch.setattr(fit_plots, "finish", lambda fig, path, title: figures.append(fig) or path)
    fit = SimpleNamespace(model=TRUTH, unrelated_probability=np.zeros(n), settings={"read_noise_sigma_ln": read_noise})
    fit_plots.plot_retention(tmp_path / "retention.png", pairs, fit, "t_before > 0")
    ax_spread, ax_drift = figures[0].axes
    [spread_line] = [line for line in ax_spread.lines if line.get_label().startswith("model")]
    r = spread_line.get_xdata()
    drawn_mean, drawn_sd = TRUTH.pair_change(r, before, 3600.0, 85.0, read_noise)
    np.testing.assert_allclose(spread_line.get_ydata(), drawn_sd, rtol=1e-12)
    np.testing.assert_allclose(ax_drift.lines[-1].get_ydata(), drawn_mean, rtol=1e-12)
    # What the plot drew before: the spread since programming, rescaled by sqrt(w_a^2 - w_b^2) / w_a;
    # the same quantity only at t_before = 0.
    w_b, w_a = TRUTH.time_scale(before), TRUTH.time_scale(before + TRUTH.equivalent_time(3600.0, 85.0))
    rescaled = TRUTH.spread(r, 3600.0, 85.0) * np.sqrt(w_a ** 2 - w_b ** 2) / w_a
    assert np.all(drawn_sd > 1.15 * rescaled)
    import matplotlib.pyplot as plt

    plt.close(figures[0])
