"""Regenerate bench/figures/ (the README's figure) from the demo flow, with its data.

    .venv/bin/python bench/figures.py          # about 5 min on 2 cores; reuses up-to-date stages of out/demo

Runs `circuitkit demo` (the flow on the bundled data) into out/demo, then writes

- bench/figures/demo_accuracy_vs_ber.json: every number the figure draws (the BNN/TNN
  tolerance curves, each campaign condition's BER interval and accuracy at its estimate
  and at its upper bound, the clean accuracies) and what they were made from (demo
  settings, input files' hashes, the fitted model card, the campaign settings, the
  toolchain fingerprint);
- bench/figures/demo_accuracy_vs_ber.png: that data drawn by the report's own plot
  function, with the JSON's sha256 in the PNG's metadata.

tests/test_figures.py checks that the PNG belongs to the JSON and that today's code and
toolchain reproduce the JSON (a subset, within seconds): when it fails, run this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

from PIL import Image, PngImagePlugin

from circuitkit import __version__
from circuitkit.files import file_hash
from circuitkit.flow import demo_flow, run_flow
from circuitkit.report.html import CAMPAIGN_ACCURACY_LABELS, campaign_accuracy_rows, tolerance_curves
from circuitkit.report.plots import plot_accuracy_with_campaigns
from circuitkit.toolchain import toolchain

REPO_ROOT = Path(__file__).resolve().parent.parent
FIGURES = REPO_ROOT / "bench" / "figures"
FIGURE = FIGURES / "demo_accuracy_vs_ber.png"
FIGURE_DATA = FIGURES / "demo_accuracy_vs_ber.json"
COMMAND = "python bench/figures.py"
DATA_KEY = "circuitkit-data-sha256"   # PNG text chunk: sha256 of the JSON it was drawn from


def repository_path(path) -> str:
    """A bundled input's path relative to the repository (the package links to it)."""
    return str(Path(path).resolve().relative_to(REPO_ROOT))


MEASUREMENTS = ("iv", "levels", "pulse", "distribution", "retention")


def input_files(config) -> list[Path]:
    """Every measurement file the demo fits (a path, or a `MeasurementSpec`'s files and
    its cycling log and read series)."""
    files = []
    for key in MEASUREMENTS:
        value = getattr(config, key)
        if value is not None:
            files += value.input_paths() if hasattr(value, "input_paths") else [value]
    return files


def demo_settings(config) -> dict:
    """The demo flow's settings that decide its numbers (not where it writes, nor the
    device, which the fit decides and campaign_settings records)."""
    settings = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)
                if field.name not in ("output", "workers", "campaign", "ternary", "rare")}
    for key in MEASUREMENTS:
        value = settings[key]
        if value is None:
            continue
        if dataclasses.is_dataclass(value):   # a MeasurementSpec: its files relative to the repository
            settings[key] = {**dataclasses.asdict(value), "files": [repository_path(p) for p in value.files],
                             **{name: repository_path(path) for name, path in value.single_files().items()}}
        else:
            settings[key] = repository_path(value)
    for key in ("network", "snn"):
        settings[key] = dataclasses.asdict(settings[key])
    settings["campaigns"] = {name: {key: value for key, value in campaign.to_dict().items() if key != "device"}
                             for name, campaign in config.campaigns().items()}
    return json.loads(json.dumps(settings, default=str))


def figure_data(out: Path, records: dict, config) -> dict:
    curves, clean = tolerance_curves(out, records)
    points = {label: campaign_accuracy_rows(out, name) for name, label in CAMPAIGN_ACCURACY_LABELS.items()}
    card_path = out / "fit_distribution" / "model_card.json"
    return {
        "figure": FIGURE.name,
        "curves": curves,
        "points": points,
        "clean": clean,
        "provenance": {
            "command": COMMAND,
            "circuitkit": __version__,
            "demo_settings": demo_settings(config),
            "inputs_sha256": {repository_path(p): file_hash(Path(p)) for p in input_files(config)},
            "model_card": json.loads(card_path.read_text()),
            "campaign_settings": {name: json.loads((out / name / "campaign_config.json").read_text())
                                  for name in ("ber_binary", "ber_ternary", "ber_rare")},
            "toolchain_fingerprint": toolchain().fingerprint(),
        },
    }


def write_figure(data: dict) -> None:
    text = json.dumps(data, indent=1) + "\n"
    FIGURE_DATA.write_text(text)
    plot_accuracy_with_campaigns(data["curves"], data["points"], FIGURE, data["clean"])
    info = PngImagePlugin.PngInfo()
    info.add_text(DATA_KEY, hashlib.sha256(text.encode()).hexdigest())
    info.add_text("Source", f"{COMMAND} (circuitkit {__version__}); data in {FIGURE_DATA.name}")
    with Image.open(FIGURE) as image:
        image.load()
    image.save(FIGURE, pnginfo=info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-output", type=Path, default=REPO_ROOT / "out" / "demo",
                        help="where the demo flow runs (its up-to-date stages are reused)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    config = dataclasses.replace(demo_flow(args.demo_output), workers=args.workers)
    records = run_flow(config)
    write_figure(figure_data(Path(config.output), records, config))
    print(f"wrote {FIGURE.relative_to(REPO_ROOT)} and {FIGURE_DATA.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
