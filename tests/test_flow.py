"""The whole flow from a FLOW.toml: stages skipped when up to date, reruns only downstream of
a changed input, and a report that renders its images in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from circuitkit import CircuitkitError
from circuitkit.flow import FlowConfig

pytestmark = [pytest.mark.spice, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
STAGES = ["fit_iv", "fit_distribution", "netlists", "ber_binary", "ber_ternary", "ber_rare", "tolerance", "snn",
          "accuracy_binary", "accuracy_ternary", "accuracy_rare", "report"]

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
temp = [27]
samples = 16
batch_size = 16
ternary_vdd = [0.9]
ternary_samples = 8
rare_event = true
rare_samples = 4

[network]
trials = 4
sweep_ber = [1e-4, 1e-1]
snn_chips = 2
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


def test_second_run_skips_every_stage_in_seconds(flow_dir):
    log, seconds = _run(flow_dir / "FLOW.toml")
    print(log.splitlines()[-1], f"({seconds:.1f} s wall)")
    assert _ran(log) == set()
    assert all(f"[skip] {stage}: up to date" in log for stage in STAGES)
    assert seconds < 30


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
                    "Spiking system beside SPIRIT", "Toolchain, seeds"):
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
    flow.write_text("[measurements]\niv = 'missing.csv'\n")
    with pytest.raises(CircuitkitError, match="missing.csv does not exist"):
        FlowConfig.from_toml(flow)


def test_a_deleted_report_is_written_again(flow_dir):
    (flow_dir / "out" / "report.html").unlink()
    log, _ = _run(flow_dir / "FLOW.toml")
    assert _ran(log) == {"report"}
    assert (flow_dir / "out" / "report.html").exists()
