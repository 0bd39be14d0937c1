"""PVT Monte Carlo campaigns with real ngspice: schema, trends, resume, workers, Dask, rare events."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from circuitkit.ber_table import BER_TABLE_COLUMNS, BerTable, method_estimator
from circuitkit.corners.campaign import CampaignConfig, run_campaign
from circuitkit.corners.reads import PcsaReadSimulator
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.stats import binomial_interval

pytestmark = [pytest.mark.spice, pytest.mark.slow]

# LRS and HRS that overlap, so errors are frequent enough to count in a test.
OVERLAPPING = DeviceNonideality.given(20e3, 0.3, 40e3, 0.3)
CLOSER = DeviceNonideality.given(20e3, 0.3, 28e3, 0.3)


PCSA = PcsaReadSimulator()


def _rates(table: BerTable) -> dict[tuple, object]:
    return {(r.condition.corner, r.condition.vdd): r for r in table.error_rates()}


@pytest.fixture(scope="module")
def trend_campaigns(tmp_path_factory):
    base = CampaignConfig(corners=("tt",), vdd=(1.8, 1.0), samples=96, batch_size=48, seed=3, device=OVERLAPPING)
    closer = CampaignConfig(corners=("tt",), vdd=(1.8,), samples=96, batch_size=48, seed=3, device=CLOSER)
    out = tmp_path_factory.mktemp("trend")
    return (run_campaign(base, out / "base", simulator=PCSA, workers=2, progress=False),
            run_campaign(closer, out / "closer", simulator=PCSA, workers=2, progress=False))


def test_table_schema_sums_and_intervals(trend_campaigns):
    result = trend_campaigns[0]
    header = (result.outdir / "ber_table.csv").read_text().splitlines()[0]
    assert header == ",".join(BER_TABLE_COLUMNS)
    table = BerTable.read(result.outdir / "ber_table.csv")
    assert table == result.table
    for condition in table.conditions():
        matrix = table.transition_matrix(condition).matrix
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    for row in table:
        assert row.ci_low <= row.probability <= row.ci_high and row.samples == 96
        assert row.method == "mc; device lrs:lognormal hrs:lognormal" and method_estimator(row.method) == "mc"
    summary = result.summary
    assert summary["failed_samples"] == 0 and summary["samples_simulated"] == 2 * 2 * 96
    assert summary["toolchain"]["ngspice"].startswith("4") and summary["seed"] == 3


def _delays(result) -> dict[tuple, float]:
    """Mean sense delay (s) per (corner, vdd, stored) from campaign.json."""
    return {(entry["corner"], entry["vdd"], entry["stored"]): entry["sense_delay_s"]["mean"]
            for entry in result.summary["conditions"]}


def test_reads_slow_down_when_supply_drops_and_err_more_when_states_move_closer(trend_campaigns):
    base, closer = (_rates(result.table) for result in trend_campaigns)
    nominal, low_supply, close = base[("tt", 1.8)], base[("tt", 1.0)], closer[("tt", 1.8)]
    for name, rate in (("1.8 V", nominal), ("1.0 V", low_supply), ("1.8 V, HRS closer", close)):
        print(f"{name}: BER {rate.ber:.3f} [{rate.ci_low:.3f}, {rate.ci_high:.3f}] over {rate.samples} reads per state")
    assert nominal.ber > 0                        # the test can see errors at all
    # Same cells, same mismatch draws at both supplies (common random numbers): the circuit
    # alone makes the 1.0 V reads slower (tt: 0.32 ns against 0.064 ns nominal).
    delays = _delays(trend_campaigns[0])
    for stored in (+1, -1):
        print(f"stored {stored:+d}: mean sense delay {delays[('tt', 1.8, stored)] * 1e12:.0f} ps at 1.8 V, "
              f"{delays[('tt', 1.0, stored)] * 1e12:.0f} ps at 1.0 V")
        assert delays[("tt", 1.0, stored)] > 3 * delays[("tt", 1.8, stored)]
    # HRS 28 k instead of 40 k: clearly worse, beyond the intervals.
    assert close.ci_low > nominal.ci_high or close.ber > 2 * nominal.ber


def test_a_campaign_simulates_its_own_condition_and_records_its_spread(tmp_path, monkeypatch, capsys):
    """The netlist a campaign job actually hands to ngspice carries the job's corner
    (with mismatch), supply and temperature; campaign.json says where the spread came from."""
    from circuitkit.device.nonideality import LITERATURE_SOURCE
    from circuitkit.netlist import bench

    simulated, real_run_batch = [], bench.run_batch

    def recording_run_batch(netlist, **kwargs):
        if kwargs.get("name") == "mc_batch":     # a job's reads (not the supply's nominal-delay run)
            simulated.append(netlist)
        return real_run_batch(netlist, **kwargs)

    monkeypatch.setattr(bench, "run_batch", recording_run_batch)
    config = CampaignConfig(corners=("ss",), vdd=(0.9,), temp_c=(125.0,), samples=4, batch_size=4, seed=7)
    result = run_campaign(config, tmp_path, workers=1, simulator=PCSA, progress=False)
    assert len(simulated) == 2                                   # stored +1 and -1, one batch each
    for netlist in simulated:
        assert "\n.param vdd=0.9\n" in netlist
        assert re.search(r"\n\.lib circuitkit_sky130_fet_\w+\.lib ss_mm\n", netlist)  # bin-resolved, mismatch
        assert "\n.temp 125\n" in netlist
    assert result.summary["device_spread"].startswith(LITERATURE_SOURCE)
    assert result.summary["settings"]["device"]["states"]["source"] == LITERATURE_SOURCE
    assert f"device spread: {LITERATURE_SOURCE}" in capsys.readouterr().err


def test_ternary_zero_reads_are_corner_sensitive(tmp_path):
    """A strict trend the circuit alone sets: at 0.9 V the ternary read samples 1.0 ns after
    evaluation starts, which tolerates an HRS/HRS imbalance of about 1.5x at ff but 3x at
    ss (the latch is slower there), so a stored 0 misreads far more often at ff; the cells
    and mismatch draws are the same at both corners (common random numbers)."""
    config = CampaignConfig(corners=("ff", "ss"), vdd=(0.9,), scheme="ternary", samples=32, batch_size=32, seed=4)
    result = run_campaign(config, tmp_path, workers=2, simulator=PCSA, progress=False)
    zero_misread = {}
    for corner in ("ff", "ss"):
        rows = [r for r in result.table if r.condition.corner == corner and r.stored == 0 and r.read != 0]
        count = sum(r.count for r in rows)
        interval = zero_misread[corner] = binomial_interval(count, rows[0].samples)
        print(f"{corner}: stored 0 read as +-1 in {count} of {rows[0].samples} reads, 95 % CI "
              f"[{interval.low:.3f}, {interval.high:.3f}]")
    assert zero_misread["ff"].low > zero_misread["ss"].high
    delays = _delays(result)
    assert delays[("ss", 0.9, +1)] > 1.4 * delays[("ff", 0.9, +1)]


CLI_CAMPAIGN = ["ber", "--corners", "ss", "--vdd", "1.8", "--samples", "32", "--batch-size", "8", "--seed", "5",
                "--lrs-median", "20e3", "--lrs-sigma", "0.3", "--hrs-median", "40e3", "--hrs-sigma", "0.3", "--quiet"]


def _cli(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "circuitkit.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_killed_campaign_resumes_to_the_same_table_with_any_worker_count(tmp_path):
    reference = _cli(CLI_CAMPAIGN + ["--workers", "2", "-o", str(tmp_path / "reference")])
    killed_dir = tmp_path / "killed"
    victim = _cli(CLI_CAMPAIGN + ["--workers", "1", "-o", str(killed_dir)], start_new_session=True)
    samples = killed_dir / "samples"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(samples.glob("*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)          # the campaign and its ngspice, mid-job
    victim.wait()
    finished_before = len(list(samples.glob("*.json")))
    print(f"killed after {finished_before} of 8 jobs")
    assert 2 <= finished_before < 8
    resumed = _cli(CLI_CAMPAIGN + ["--workers", "2", "-o", str(killed_dir)])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"{8 - finished_before} of 8 jobs run now" in out
    assert reference.wait(timeout=300) == 0
    assert (killed_dir / "ber_table.csv").read_text() == (tmp_path / "reference" / "ber_table.csv").read_text()
    assert (killed_dir / "ber_vs_vdd.png").stat().st_size > 10_000          # the CLI draws the campaign's figure


def test_dask_cluster_gives_the_same_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    config = CampaignConfig(corners=("ff",), samples=16, batch_size=8, seed=9, device=OVERLAPPING)
    local = run_campaign(config, tmp_path / "local", workers=1, simulator=PCSA, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = run_campaign(config, tmp_path / "dask", executor="dask", scheduler=cluster.scheduler_address,
                              simulator=PCSA, progress=False)
    assert remote.table == local.table
    assert remote.summary["executor"] == "dask"


# Narrow states, 1.35x apart: the sense amplifier's own offset (sigma ~0.17 in ln of the
# ratio at tt 1.8 V) dominates the cells' spread (0.03 * sqrt 2), so the errors are the
# amplifier's. An amplifier without offset would misread about 1e-12 of these cells.
OFFSET_DOMINATED = DeviceNonideality.given(20e3, 0.03, 27e3, 0.03)


def _interval(row) -> tuple[float, float, float]:
    return row.probability, row.ci_low, row.ci_high


def test_rare_event_methods_agree_with_brute_force_where_the_offset_dominates(tmp_path):
    """The offset method and importance sampling against 288 brute-force reads per stored
    value; the same comparison must fail for an amplifier whose offset is forced to zero."""
    from circuitkit.sense_offset import OffsetFit, error_probabilities

    common = dict(corners=("tt",), vdd=(1.8,), seed=11, device=OFFSET_DOMINATED, batch_size=48)
    brute = run_campaign(CampaignConfig(samples=288, **common), tmp_path / "mc", workers=2, simulator=PCSA, progress=False)
    offset = run_campaign(CampaignConfig(samples=32, method="offset", **common), tmp_path / "offset", workers=2,
                          simulator=PCSA, progress=False)
    sampled = run_campaign(CampaignConfig(samples=96, method="is", pilot_samples=8, **common), tmp_path / "is",
                           workers=2, simulator=PCSA, progress=False)
    fit = OffsetFit.from_dict(offset.summary["offset_fits"][0])
    print(f"sense-amplifier offset: x0 {fit.x0:+.4f}, sigma {fit.sigma:.4f} (ln of resistance ratio)")
    zero_offset = error_probabilities(OffsetFit(0.0, 0.0, np.zeros((2, 2)), fit.points, fit.trials, fit.read_plus,
                                                False), OFFSET_DOMINATED.states)

    def overlap(a, b) -> bool:
        return a[1] <= b[2] and b[1] <= a[2]

    for stored in (+1, -1):
        mc, rare, weighted = (_interval(next(r for r in result.table if r.stored == stored and r.read == -stored))
                              for result in (brute, offset, sampled))
        print(f"stored {stored:+d}: mc {mc[0]:.4f} [{mc[1]:.4f}, {mc[2]:.4f}] (288 reads); offset {rare[0]:.4f} "
              f"[{rare[1]:.4f}, {rare[2]:.4f}]; is {weighted[0]:.4f} [{weighted[1]:.4f}, {weighted[2]:.4f}] "
              f"(96 reads); zero offset {zero_offset[stored][0]:.2e}")
        assert mc[0] >= 0.01                          # measurable by brute force
        assert overlap(rare, mc) and overlap(weighted, mc)
        assert not overlap(zero_offset[stored], mc)   # the comparison can fail: without the offset it does
    assert {r.method for r in offset.table} == {"offset; device lrs:lognormal hrs:lognormal"}
    assert {r.method for r in sampled.table} == {"is; device lrs:lognormal hrs:lognormal"}


def test_non_converging_jobs_are_retried_once_then_counted_and_reported(tmp_path):
    """Bookkeeping only (no circuit claim): a wrapper makes chosen jobs fail to converge and
    lets every other read run in ngspice."""
    from circuitkit.spice.runner import SimulationError

    attempts = []

    class Flaky(PcsaReadSimulator):
        def __call__(self, point, scheme, resistances, spice_seed, *, stored, tighter, **kwargs):
            attempts.append((stored, tighter))
            # Every stored -1 job fails its first attempt; the first of them fails its retry too.
            if stored == -1 and (not tighter or attempts.count((-1, True)) == 1):
                raise SimulationError("convergence", None, "timestep too small (injected by the test)")
            return super().__call__(point, scheme, resistances, spice_seed, stored=stored, tighter=tighter, **kwargs)

    config = CampaignConfig(samples=16, batch_size=8, seed=2, device=OVERLAPPING)
    said = []
    result = run_campaign(config, tmp_path, workers=1, simulator=Flaky(), progress=False, log=said.append)
    summary = result.summary
    failed = {entry["stored"]: entry["failed"] for entry in summary["failed_samples_by_condition"]}
    print(f"attempts {attempts}; failed samples {failed}; retried jobs {summary['retried_jobs']}")
    assert attempts.count((-1, False)) == 2 and attempts.count((-1, True)) == 2   # each stored -1 job retried once
    assert failed == {+1: 0, -1: 8} and summary["failed_samples"] == 8
    assert summary["retried_jobs"] == 2
    rows = {row.stored: row.samples for row in result.table}
    assert rows == {+1: 16, -1: 8}          # the failed batch is counted in campaign.json, not passed off as reads
    # ... and stays in the accounting: both bounds in campaign.json and on the console, inside the intervals.
    bounds = summary["non_converged"]["by_condition"][0]
    errors_plus = sum(r.count for r in result.table if r.stored == +1 and r.read != +1)
    errors_minus = sum(r.count for r in result.table if r.stored == -1 and r.read != -1)
    assert bounds["non_converged_reads"] == 8
    assert bounds["ber_counted_as_errors"] == pytest.approx((errors_plus / 16 + (errors_minus + 8) / 16) / 2)
    assert bounds["ber_counted_as_correct"] == pytest.approx((errors_plus / 16 + errors_minus / 16) / 2)
    assert any("8 of 32 reads did not converge" in line and "counted as errors" in line for line in said)
    assert result.table.error_rates()[0].ci_high >= bounds["ber_counted_as_errors"]
    assert any("injected by the test" in message for message in summary["failures"])


def _pdk_copy(directory, extra: str = ""):
    """A user PDK: the cached sky130 FET models, `extra` appended to models_fet.spice."""
    from circuitkit import toolchain

    cached = toolchain.find_sky130()
    directory.mkdir()
    for name in toolchain.SKY130_FET_FILES:
        (directory / name).write_text((cached.directory / name).read_text() + (extra if name == "models_fet.spice" else ""))
    return directory


def test_resuming_refuses_samples_of_another_model_card_or_toolchain(tmp_path, monkeypatch):
    from circuitkit import CircuitkitError, toolchain
    from circuitkit.device.model import ModelCard

    config = CampaignConfig(corners=("fs",), samples=4, batch_size=4, seed=8)
    outdir = tmp_path / "campaign"
    first = run_campaign(config, outdir, workers=1, simulator=PCSA, progress=False)
    assert set(first.summary["simulated_with"]) == {"model_card", "ngspice", "verilog_a", "pdk", "read_simulator"}
    refitted = ModelCard.default().with_values({"g0": 0.26e-9})
    with pytest.raises(CircuitkitError, match=r"another model card \(model card was 'sha256 \w+', now"):
        run_campaign(config, outdir, card=refitted, workers=1, simulator=PCSA, progress=False)
    monkeypatch.setenv("CIRCUITKIT_SKY130_MODELS", str(_pdk_copy(tmp_path / "same_models")))
    toolchain.toolchain.cache_clear()
    try:
        # The same model files elsewhere are the same toolchain: the campaign resumes.
        again = run_campaign(config, outdir, workers=1, simulator=PCSA, progress=False)
        assert again.summary["jobs_run_this_time"] == 0 and again.table == first.table
        monkeypatch.setenv("CIRCUITKIT_SKY130_MODELS", str(_pdk_copy(tmp_path / "other_models", "* revised\n")))
        toolchain.toolchain.cache_clear()
        with pytest.raises(CircuitkitError, match=r"another PDK \(PDK was 'sky130 FET model files"):
            run_campaign(config, outdir, workers=1, simulator=PCSA, progress=False)
    finally:
        toolchain.toolchain.cache_clear()
    assert len(list((outdir / "samples").glob("*.json"))) == 2     # nothing was mixed in
