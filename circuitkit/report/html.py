"""The flow's report: OUTDIR/report.html (static, opens in any browser, no server) and
OUTDIR/report.md, both built from the artefacts the stages wrote."""

from __future__ import annotations

import csv
import datetime
import html
import json
from pathlib import Path
from typing import Any

from circuitkit import __version__
from circuitkit.ber_table import BerTable
from circuitkit.files import write_atomic
from circuitkit.report.plots import condition_error_rates, plot_accuracy_with_campaigns

# After load, the page records how many of its images actually decoded, so a headless
# browser test can check that the report renders its pictures.
_IMAGE_CHECK = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  document.body.dataset.imagesTotal = images.length;
  document.body.dataset.imagesRendered = images.filter(i => i.complete && i.naturalWidth > 0).length;
});
</script>"""

_STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f0f0f0; }
td.text { text-align: left; } img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; }
</style>"""


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


class _Document:
    """Writes the same content as HTML and as Markdown."""

    def __init__(self) -> None:
        self.html: list[str] = []
        self.md: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")
        self.md.append(f"\n{'#' * level} {text}\n")

    def paragraph(self, text: str, note: bool = False) -> None:
        opening = '<p class="note">' if note else "<p>"
        self.html.append(f"{opening}{html.escape(text)}</p>")
        self.md.append(f"\n{text}\n")

    def image(self, src: str, alt: str) -> None:
        self.html.append(f'<img src="{html.escape(src)}" alt="{html.escape(alt)}">')
        self.md.append(f"\n![{alt}]({src})\n")

    def link(self, src: str, text: str) -> None:
        self.html.append(f'<p><a href="{html.escape(src)}">{html.escape(text)}</a></p>')
        self.md.append(f"\n[{text}]({src})\n")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = []
        for row in rows:
            body.append("<tr>" + "".join(
                ('<td class="text">' if isinstance(v, str) and not _numeric(v) else "<td>") + html.escape(str(v)) + "</td>"
                for v in row) + "</tr>")
        self.html.append(f"<table><tr>{cells}</tr>{''.join(body)}</table>")
        self.md.append("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
                       + "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in rows) + "\n")


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _g(value: Any, digits: int = 3) -> str:
    try:
        return f"{float(value):.{digits}g}"
    except (TypeError, ValueError):
        return str(value)


def write_report(out: Path, directory: Path, records: dict, config, versions: dict[str, str]) -> dict[str, Any]:
    """Write report.html and report.md into `out` (their images refer to the stages'
    directories there); the report's own plot goes into `directory`."""
    doc = _Document()
    doc.heading("circuitkit report: from RRAM measurements to network accuracy", 1)
    doc.paragraph(f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} by circuitkit "
                  f"{__version__}. Every number below comes from a real run of the stage named with it; "
                  "every statistic carries its sample count and a 95 % interval.")

    # --- device
    doc.heading("1. Device model fitted to the measurements")
    for name in ("fit_iv", "fit_levels", "fit_pulse", "fit_distribution"):
        if name not in records:
            continue
        card = json.loads((out / name / "model_card.json").read_text())
        provenance = card.get("provenance", {})
        doc.heading(f"{name.replace('_', ' ')}: {provenance.get('data_file', '')}", 3)
        doc.image(f"{name}/fit.png", f"{name} data against fit")
        quality = provenance.get("fit_quality", {})
        spice = provenance.get("ngspice_quality", {})
        if name in ("fit_levels", "fit_pulse"):  # the fit's own sentences: what was judged, how well, the flags
            for line in provenance.get("summary", []):
                doc.paragraph(line)
            for flag in provenance.get("flags", []):
                doc.paragraph(f"Flag: {flag}")
        elif name == "fit_iv":
            doc.table(["metric", "Python fit", "ngspice re-simulation"],
                      [[key, _g(quality.get(key)), _g(spice.get(key))] for key in quality])
            fitted = provenance.get("fitted", [])
            doc.table(["parameter", "value", "unit"],
                      [[key, _g(card["parameters"].get(key, card.get("instance_defaults", {}).get(key)), 5),
                        card.get("parameter_info", {}).get(key, {}).get("unit", "")] for key in fitted
                       if key in card["parameters"] or key in card.get("instance_defaults", {})])
        else:
            doc.table(["state", "cells", "median (ohm)", "median 95 % CI", "sigma ln R", "sigma 95 % CI"],
                      [[state, s.get("n"), _g(s.get("median_ohm"), 5),
                        f"{_g(s.get('median_ci95_ohm', [None])[0], 5)} .. {_g(s.get('median_ci95_ohm', [None, None])[1], 5)}",
                        _g(s.get("sigma_lnR")),
                        f"{_g(s.get('sigma_lnR_ci95', [None])[0])} .. {_g(s.get('sigma_lnR_ci95', [None, None])[1])}"]
                       for state, s in quality.items() if isinstance(s, dict)])

    # --- netlists
    if "netlists" in records:
        doc.heading("2. Netlists (2T2R + precharge sense amplifier, sky130 + rram_hfox)")
        for name in records["netlists"].summary.get("netlists", []):
            doc.link(f"netlists/{name}", name)

    # --- BER
    doc.heading("3. Bit-error tables across process, voltage and temperature")
    ber_rows = []
    for name in ("ber_binary", "ber_ternary", "ber_rare"):
        if name not in records:
            continue
        doc.image(f"{name}/ber_vs_vdd.png", f"{name} BER vs VDD")
        summary = records[name].summary
        table = BerTable.read(out / name / "ber_table.csv")
        for rate in condition_error_rates(table):
            c = rate["condition"]
            ber_rows.append([c.corner, f"{c.vdd:g}", f"{c.temp_c:g}", c.scheme, rate["method"], rate["samples"],
                             _g(rate["ber"]), f"{_g(rate['ci_low'])} .. {_g(rate['ci_high'])}"])
        doc.paragraph(f"{name}: {summary.get('samples_simulated')} simulated reads, "
                      f"{summary.get('failed_samples')} failed to converge (counted, not dropped), "
                      f"{_g(summary.get('simulation_time_s_total'))} s of simulation. Full table: {name}/ber_table.csv",
                      note=True)
    doc.table(["corner", "VDD (V)", "T (C)", "scheme", "method", "samples per state", "BER", "95 % interval"], ber_rows)
    doc.paragraph("BER is the mean over stored values of P(read != stored). 'mc' rows count brute-force Monte Carlo "
                  "reads (Clopper-Pearson intervals); 'offset' rows integrate the sense amplifier's measured "
                  "input-referred offset against the lognormal LRS/HRS distributions (probit fit, delta-method "
                  "interval), which reaches rates no sampling can see.", note=True)

    # --- accuracy
    doc.heading("4. Network accuracy under those bit errors")
    curves, points, clean = {}, {}, {}
    for name, label in (("accuracy_sweep_bnn", "BNN"), ("accuracy_sweep_tnn", "TNN")):
        if name in records:
            curves[label] = _read_csv(out / name / "accuracy.csv")
            clean[label] = records[name].summary.get("clean_accuracy")
    labels = {"accuracy_binary": "BNN, binary table (mc)", "accuracy_rare": "BNN, binary table (offset)",
              "accuracy_ternary": "TNN, ternary table (mc)"}
    accuracy_rows = []
    for name, label in labels.items():
        if name not in records:
            continue
        rows = _read_csv(out / name / "accuracy.csv")
        points[label] = rows
        for row in rows:
            accuracy_rows.append([label, row["corner"], _g(row["vdd"]), _g(row["temp_c"]), _g(row["ber"]),
                                  f"{float(row['accuracy_mean']) * 100:.2f}", f"{float(row['accuracy_std']) * 100:.2f}",
                                  f"{float(row['ci_low']) * 100:.2f} .. {float(row['ci_high']) * 100:.2f}", row["trials"]])
    if curves:
        plot_accuracy_with_campaigns(curves, points, directory / "accuracy_vs_ber.png", clean)
        doc.image("report/accuracy_vs_ber.png", "accuracy vs BER with the campaign points")
    for label, value in clean.items():
        summary = records[f"accuracy_sweep_{label.lower()}"].summary
        doc.paragraph(f"{label} {summary.get('network')}: {value * 100:.2f} % without errors on "
                      f"{summary.get('test_images')} test images.", note=True)
    doc.table(["network / table", "corner", "VDD (V)", "T (C)", "BER injected", "accuracy (%)", "std (%)",
               "95 % interval (%)", "trials"], accuracy_rows)

    # --- provenance
    doc.heading("5. Toolchain, seeds and run times")
    doc.table(["tool", "version"], [[key, value] for key, value in versions.items()])
    doc.paragraph(f"Seed {config.seed}; {config.workers} worker processes; Monte Carlo seeds per job derive from it "
                  "(identical results for any number of workers).")
    doc.table(["stage", "ran now", "seconds"],
              [[name, "yes" if record.ran else "no (up to date)", f"{record.seconds:.1f}"]
               for name, record in records.items()])

    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>circuitkit report</title>"
            f"{_STYLE}</head><body>{''.join(doc.html)}{_IMAGE_CHECK}</body></html>\n")
    write_atomic(out / "report.html", page)
    write_atomic(out / "report.md", "".join(doc.md).lstrip() + "\n")
    return {"report": str(out / "report.html")}
