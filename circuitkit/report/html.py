"""The flow's report: OUTDIR/report.html (static, opens in any browser, no server) and
OUTDIR/report.md, both built from the artefacts the stages wrote.

It reads files and stage records; it runs no stage and imports no stage's machinery
(the flow calls it, never the other way round).
"""

from __future__ import annotations

import csv
import datetime
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from circuitkit import __version__
from circuitkit.ber_table import BerTable, Condition
from circuitkit.files import write_atomic
from circuitkit.report.plots import BER_FIGURE, BER_TIME_FIGURE, plot_accuracy_with_campaigns, plot_tolerance

# The accuracy at each condition's BER upper bound (accuracy.csv columns), written by the
# flow's accuracy stages beside their accuracy.csv.
ACCURACY_AT_BER_UPPER_BOUND = "accuracy_at_ber_upper_bound.csv"

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


# Accuracy stages of the flow placed on the accuracy-vs-BER plot, with their legend labels.
CAMPAIGN_ACCURACY_LABELS = {"accuracy_binary": "BNN, binary table (mc)", "accuracy_rare": "BNN, binary table (offset)",
                            "accuracy_ternary": "TNN, ternary table (mc)"}
TOLERANCE_LABELS = ("BNN", "TNN")


def tolerance_curves(out: Path, records: dict) -> tuple[dict[str, list[dict[str, str]]], dict[str, float]]:
    """The flow's tolerance curves (accuracy vs injected BER) per network label, and each
    network's clean accuracy, from the `tolerance` stage (empty when it did not run)."""
    curves, clean = {}, {}
    if "tolerance" in records:
        for label in TOLERANCE_LABELS:
            curves[label] = _read_csv(out / "tolerance" / f"tolerance_{label.lower()}.csv")
            clean[label] = records["tolerance"].summary.get(label.lower(), {}).get("clean_accuracy")
    return curves, clean


def campaign_accuracy_rows(out: Path, name: str) -> list[dict[str, str]]:
    """accuracy.csv rows of a campaign's accuracy stage (e.g. accuracy_binary), each joined
    with its condition's BER interval (from the campaign's ber_table.csv: `ber_ci_low`,
    `ber_ci_high`) and the accuracy at the BER's upper bound (`accuracy_mean_at_ber_ci_high`,
    `accuracy_low_at_ber_ci_high`, when the table had enough reads for one)."""
    table = BerTable.read(out / name.replace("accuracy_", "ber_", 1) / "ber_table.csv")
    rates = {rate.condition: rate for rate in table.error_rates()}
    bound_path = out / name / ACCURACY_AT_BER_UPPER_BOUND
    at_bound = {}
    for row in (_read_csv(bound_path) if bound_path.exists() else []):
        at_bound[Condition(row["corner"], float(row["vdd"]), float(row["temp_c"]), row["scheme"])] = row
    rows = []
    for row in _read_csv(out / name / "accuracy.csv"):
        condition = Condition(row["corner"], float(row["vdd"]), float(row["temp_c"]), row["scheme"])
        rate = rates[condition]
        row = {**row, "ber_ci_low": repr(rate.ci_low), "ber_ci_high": repr(rate.ci_high)}
        if condition in at_bound:
            row["accuracy_mean_at_ber_ci_high"] = at_bound[condition]["accuracy_mean"]
            row["accuracy_low_at_ber_ci_high"] = at_bound[condition]["ci_low"]
        rows.append(row)
    return rows


def _toolchain_labels(records: dict) -> dict[str, str]:
    """Each distinct toolchain the stages recorded (JSON text) -> a short label T1, T2..."""
    seen = [json.dumps(record.summary["toolchain_used"], sort_keys=True) for record in records.values()
            if record.summary.get("toolchain_used")]
    return {toolchain: f"T{index}" for index, toolchain in enumerate(dict.fromkeys(seen), 1)}


def toolchains_used(records: dict) -> dict[str, str]:
    """Stage name -> label of the toolchain (ngspice, Verilog-A, PDK hashes) it ran with,
    as the stage recorded it when it ran."""
    labels = _toolchain_labels(records)
    return {name: labels[json.dumps(record.summary["toolchain_used"], sort_keys=True)]
            for name, record in records.items() if record.summary.get("toolchain_used")}


def spread_lines(records: dict) -> list[str]:
    """'Device spread: <source> (<numbers>)' once per distinct spread the campaigns used,
    as each campaign recorded it (campaign.json `device_spread`)."""
    spreads = {record.summary.get("device_spread") for name, record in records.items() if name.startswith("ber_")}
    return [f"Device spread (LRS/HRS resistance distributions the Monte Carlo draws from): {spread}"
            for spread in sorted(s for s in spreads if s)]


def campaign_outcome_lines(summary: Mapping[str, Any]) -> list[str]:
    """What a campaign.json says about reads that decided nothing and about the device model
    its estimates assumed: non-converged reads with both bounds, unresolved reads, and the
    BER under each other fitted distribution model."""
    lines = []
    for entry in (summary.get("non_converged") or {}).get("by_condition", []):
        where = f"{entry['corner']} {_g(entry['vdd'])} V {_g(entry['temp_c'])} C"
        if entry.get("non_converged_reads"):
            lines.append(f"{where}: {entry['non_converged_reads']} of {entry['reads']} reads did not converge; they are "
                         f"inside the table's intervals: BER {_g(entry['ber_counted_as_correct'])} counting them as "
                         f"correct, {_g(entry['ber_counted_as_errors'])} counting them as errors")
        if entry.get("unresolved_reads"):
            lines.append(f"{where}: {entry['unresolved_reads']} reads unresolved at the sampling time (their own "
                         "'unresolved' rows, counted as errors; injected as misreads)")
    sensitivity = summary.get("model_form_sensitivity") or {}
    if sensitivity.get("note"):
        lines.append(f"model-form sensitivity: {sensitivity['note']}")
    for entry in sensitivity.get("by_condition", []):
        if entry.get("alternatives"):
            lines.append(f"{entry['corner']} {_g(entry['vdd'])} V {_g(entry['temp_c'])} C: BER {_g(entry['ber'])} "
                         f"assuming {entry['assumed']}; with the other fitted models "
                         + ", ".join(f"{a['hrs']} {_g(a['ber'])}" for a in entry["alternatives"])
                         + f" ({sensitivity.get('how', '')})")
    return lines


def write_report(out: Path, directory: Path, records: dict, config, versions: dict[str, str],
                 published_points: Sequence[dict] = ()) -> dict[str, Any]:
    """Write report.html and report.md into `out` (their images refer to the stages'
    directories there); the report's own plot goes into `directory`. `published_points`:
    literature knees shown beside the tolerance curves (the flow passes
    `inject.tolerance.PUBLISHED`; the report imports no stage)."""
    doc = _Document()
    doc.heading("circuitkit report: from RRAM measurements to network accuracy", 1)
    doc.paragraph(f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} by circuitkit "
                  f"{__version__}. Every number below comes from a real run of the stage named with it; "
                  "every statistic carries its sample count and a 95 % interval.")

    # --- device
    doc.heading("1. Device model fitted to the measurements")
    for name in ("fit_iv", "fit_levels", "fit_pulse", "fit_distribution", "fit_retention"):
        if name not in records:
            continue
        card = json.loads((out / name / "model_card.json").read_text())
        provenance = card.get("provenance", {})
        doc.heading(f"{name.replace('_', ' ')}: {provenance.get('data_file', '')}", 3)
        doc.image(f"{name}/fit.png", f"{name} data against fit")
        quality = provenance.get("fit_quality", {})
        spice = provenance.get("ngspice_quality", {})
        if name in ("fit_levels", "fit_pulse", "fit_retention"):  # the fit's own sentences: what was judged, how well, the flags
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
    for line in spread_lines(records):
        doc.paragraph(line)
    ber_rows = []
    if (out / BER_FIGURE).exists():
        doc.image(BER_FIGURE, "BER vs VDD of every campaign: estimates with 95 % intervals, one style per method")
    for name in ("ber_binary", "ber_ternary", "ber_rare"):
        if name not in records:
            continue
        doc.image(f"{name}/{BER_FIGURE}", f"{name} BER vs VDD")
        summary = records[name].summary
        table = BerTable.read(out / name / "ber_table.csv")
        for rate in table.error_rates():
            c = rate.condition
            ber_rows.append([c.corner, f"{c.vdd:g}", f"{c.temp_c:g}", c.scheme, rate.method, rate.samples,
                             _g(rate.ber), f"{_g(rate.ci_low)} .. {_g(rate.ci_high)}"])
        doc.paragraph(f"{name}: {summary.get('samples_simulated')} simulated reads, "
                      f"{summary.get('failed_samples')} failed to converge, "
                      f"{_g(summary.get('simulation_time_s_total'))} s of simulation. Full table: {name}/ber_table.csv",
                      note=True)
        for line in campaign_outcome_lines(summary):
            doc.paragraph(f"{name}: {line}", note=True)
    doc.table(["corner", "VDD (V)", "T (C)", "scheme", "method", "samples per state", "BER", "95 % interval"], ber_rows)
    doc.paragraph("BER is the mean over stored values of P(read != stored). 'mc' rows count brute-force Monte Carlo "
                  "reads (Clopper-Pearson intervals); 'offset' rows integrate the sense amplifier's measured "
                  "input-referred offset against the lognormal LRS/HRS distributions (probit fit, delta-method "
                  "interval), which reaches rates no sampling can see; 'is' rows are importance sampling, every sample an "
                  "ngspice read of cells drawn near the failure region and weighted by its likelihood ratio (normal "
                  "interval of the weighted mean; effective sample size in campaign.json). The method column names the device-distribution "
                  "models each estimate assumed and its flags ('separated': the offset fit resolved no sigma, the "
                  "interval bounds it; 'failed': no read converged, interval [0, 1]; 'non-converged'/'undecided': "
                  "reads that decided nothing are inside the interval, counted both ways).", note=True)

    if "ber_time" in records:
        _ber_time_section(doc, records["ber_time"].summary)

    # --- accuracy
    doc.heading("4. Network accuracy under those bit errors")
    points: dict[str, list[dict[str, str]]] = {}
    curves, clean = tolerance_curves(out, records)
    accuracy_rows = []
    for name, label in CAMPAIGN_ACCURACY_LABELS.items():
        if name not in records:
            continue
        rows = campaign_accuracy_rows(out, name)
        points[label] = rows
        for row in rows:
            at_bound = (f"{float(row['accuracy_mean_at_ber_ci_high']) * 100:.2f}"
                        if "accuracy_mean_at_ber_ci_high" in row else "n/a (too few reads)")
            low = min(float(row["ci_low"]), float(row.get("accuracy_low_at_ber_ci_high", row["ci_low"])))
            accuracy_rows.append([label, row["corner"], _g(row["vdd"]), _g(row["temp_c"]), _g(row["ber"]),
                                  f"{_g(row['ber_ci_low'])} .. {_g(row['ber_ci_high'])}",
                                  f"{float(row['accuracy_mean']) * 100:.2f}", f"{float(row['accuracy_std']) * 100:.2f}",
                                  f"{float(row['ci_low']) * 100:.2f} .. {float(row['ci_high']) * 100:.2f}", at_bound,
                                  f"{low * 100:.2f} .. {float(row['ci_high']) * 100:.2f}", row["trials"]])
    if curves:
        plot_accuracy_with_campaigns(curves, points, directory / "accuracy_vs_ber.png", clean)
        doc.image("report/accuracy_vs_ber.png", "accuracy vs BER with the campaign points")
    for label, value in clean.items():
        summary = records["tolerance"].summary.get(label.lower(), {})
        doc.paragraph(f"{label} {summary.get('network')}: {value * 100:.2f} % without errors on "
                      f"{summary.get('test_images')} test images.", note=True)
    doc.table(["network / table", "corner", "VDD (V)", "T (C)", "BER injected", "BER 95 % interval",
               "accuracy (%)", "std (%)", "95 % interval (%)", "accuracy at the BER's upper bound (%)",
               "95 % interval with the BER's uncertainty (%)", "trials"], accuracy_rows)
    doc.paragraph("The accuracy is evaluated twice per condition: at the table's BER estimate, and with every error "
                  "probability at its 95 % upper bound. The last interval spans both (from the low end at the upper "
                  "bound to the high end at the estimate): a condition with no error seen in N reads is only known "
                  "to have a BER below that bound, and is drawn there on the plot.", note=True)
    if "tolerance" in records:
        _tolerance_section(doc, out, directory, records, curves, clean, published_points)
    if "snn" in records:
        _snn_section(doc, out)
    if "mlc" in records:
        _mlc_section(doc, out, records["mlc"].summary)
    if "disturb" in records:
        _disturb_section(doc, out)
    if "program" in records:
        _program_section(doc, out, records["program"].summary)

    # --- provenance
    doc.heading("8. Toolchain, seeds and run times")
    doc.table(["tool", "version"], [[key, value] for key, value in versions.items()])
    doc.paragraph(f"Seed {config.seed}; {config.workers} worker processes; Monte Carlo seeds per job derive from it "
                  "(identical results for any number of workers).")
    used = toolchains_used(records)
    doc.table(["stage", "ran now", "seconds", "toolchain used"],
              [[name, "yes" if record.ran else "no (up to date)", f"{record.seconds:.1f}",
                used.get(name, "none (no simulation)")] for name, record in records.items()])
    labels = {label: toolchain for toolchain, label in _toolchain_labels(records).items()}
    doc.table(["toolchain", "ngspice", "Verilog-A", "PDK"],
              [[label, *(dict(json.loads(toolchain)).get(key, "not used") for key in ("ngspice", "verilog_a", "pdk"))]
               for label, toolchain in labels.items()])

    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>circuitkit report</title>"
            f"{_STYLE}</head><body>{''.join(doc.html)}{_IMAGE_CHECK}</body></html>\n")
    write_atomic(out / "report.html", page)
    write_atomic(out / "report.md", "".join(doc.md).lstrip() + "\n")
    return {"report": str(out / "report.html")}


def _tolerance_section(doc: _Document, out: Path, directory: Path, records: dict, curves: dict, clean: dict,
                       published_points: Sequence[dict]) -> None:
    """Tolerance figure (both networks, knees, published points, the campaign's conditions
    with their BER intervals) and the knee table."""
    doc.heading("Tolerance knees: where each network starts to lose accuracy", 3)
    knees = _read_csv(out / "tolerance" / "knees.csv")
    rates = {}
    for name in ("ber_binary", "ber_rare", "ber_ternary"):
        if name in records:
            for rate in BerTable.read(out / name / "ber_table.csv").error_rates():
                c = rate.condition
                rates[(name, c.corner, c.vdd, c.temp_c)] = rate
    conditions: dict[str, list[dict]] = {}
    for name, label in (("accuracy_binary", "BNN"), ("accuracy_rare", "BNN"), ("accuracy_ternary", "TNN")):
        if name not in records:
            continue
        for row in _read_csv(out / name / "accuracy.csv"):
            rate = rates.get((name.replace("accuracy_", "ber_"), row["corner"], float(row["vdd"]), float(row["temp_c"])))
            if rate is not None:
                conditions.setdefault(label, []).append({**row, "ber_low": rate.ci_low, "ber_high": rate.ci_high,
                                                         "label": f"{row['corner']} {float(row['vdd']):g} V"})
    plot_tolerance(curves, directory / "tolerance.png", clean=clean,
                   knees=[{**k, "network": k["network"].upper()} for k in knees], conditions=conditions,
                   published=published_points)
    doc.image("report/tolerance.png", "tolerance curves with knees, published points and campaign conditions")
    rows = []
    for k in knees:
        low, high = float(k["ci_low"]), float(k["ci_high"])
        interval = "" if k["bound"] else f"{_g(low) if low > 0 else 'below grid'} .. {_g(high) if high < float('inf') else 'above grid'}"
        rows.append([k["network"].upper(), k["description"], f"{float(k['clean_accuracy']) * 100:.1f}",
                     f"-{float(k['loss_points']):g}", ("< " if k["bound"] == "below" else "> " if k["bound"] == "above" else "")
                     + _g(k["knee_ber"]), interval, k["trials"], k["test_images"]])
    for published in published_points:
        span = _g(published["ber_low"]) + ("" if published["ber_low"] == published["ber_high"] else f" .. {_g(published['ber_high'])}")
        rows.append(["published", f"{published['label']} ({published['source']})", "", "", span, "", "", ""])
    doc.table(["network", "architecture", "clean (%)", "loss (points)", "knee BER", "95 % interval", "trials",
               "test images"], rows)
    doc.paragraph("Knee: the first BER of the 4-per-decade grid at which the mean accuracy loss reaches 1 or 5 points, "
                  "interpolated in log10(BER); interval: paired bootstrap over test images and trials (1,000 resamples). "
                  "Campaign conditions are drawn at their BER estimate with its 95 % interval (horizontal) and the "
                  "accuracy injected there (vertical).", note=True)


def _snn_section(doc: _Document, out: Path) -> None:
    """The spiking system beside SPIRIT (Valentian et al., IEDM 2019)."""
    summary = json.loads((out / "snn" / "snn_summary.json").read_text())
    doc.heading("5. Spiking system beside SPIRIT (12x12 MNIST, single-level 1T1R synapses)")
    reference = summary["reference"]
    rows = [["SPIRIT (measured chip)", "", "", f"{reference['accuracy_measured'] * 100:.0f}", "", "10,000 test images"],
            ["SPIRIT (ideal simulation of the topology)", "", "", f"{reference['accuracy_ideal_topology'] * 100:.0f}",
             "", ""]]
    for row in _read_csv(out / "snn" / "snn_accuracy.csv"):
        rows.append([row["case"], row["coding"], row["description"], f"{float(row['accuracy_mean']) * 100:.1f}",
                     f"{float(row['ci_low']) * 100:.1f} .. {float(row['ci_high']) * 100:.1f}", row["interval"]])
    doc.table(["case", "input coding", "what it includes", "accuracy (%)", "95 % interval (%)", "over"], rows)
    spread, stuck = summary["threshold_spread"], summary["stuck_cells"]
    doc.paragraph(f"{summary['dataset']}: {summary['test_images']} test images, {summary['chips_per_case']} chips per "
                  f"case ({summary['characterization']['condition']}). Neuron threshold spread "
                  f"{spread['sigma_rel']:.3g} (95 % CI {_g(spread['low'])} .. {_g(spread['high'])}) from "
                  f"{spread['samples']} Monte Carlo samples. Stuck cells: LRS {_g(stuck['stuck_lrs'])}, HRS "
                  f"{_g(stuck['stuck_hrs'])} ({stuck['source']}). Poisson input spikes are random, regular ones evenly "
                  "spaced: the coding is an input the comparison must state.", note=True)


def _ber_time_section(doc: _Document, stage: dict) -> None:
    """BER against the time after programming (the relaxed states), extrapolation marked."""
    doc.heading("BER versus time after programming", 3)
    doc.image(f"ber_time/{BER_TIME_FIGURE}", "BER vs time after programming (normal-quantile BER axis)")
    doc.table(["read after", "kept at (C)", "corner", "VDD (V)", "T read (C)", "method", "BER", "95 % interval",
               "data or extrapolation"],
              [[row["read_after"], _g(row["retention_temp_c"]), row["corner"], _g(row["vdd"]), _g(row["temp_c"]),
                row["method"], _g(row["ber"]), f"{_g(row['ci_low'])} .. {_g(row['ci_high'])}",
                row["extrapolation"] or ("as programmed" if float(row["read_after_s"]) == 0 else "within the data")]
               for row in stage.get("rows", [])])
    doc.paragraph(f"Method: {stage.get('method')}. Device: {stage.get('relaxation')}. Each read time draws the "
                  "states relaxed by the fitted model (median drift and widening, evaluated at each state's median); "
                  "rows beyond the retention data's equivalent time are extrapolated and say by how much.", note=True)


def _program_section(doc: _Document, out: Path, stage: dict) -> None:
    """Programming energy vs read bit errors (cells SET in ngspice, 1T1R vs 2T2R)."""
    summary = json.loads((out / "program" / "tradeoff.json").read_text())
    rows = summary["rows"]
    doc.heading("7. Programming: energy per bit vs read bit errors")
    for line in stage.get("fallbacks", []):
        doc.paragraph(f"Fallback: {line}", note=True)
    doc.image("program/tradeoff.png", "read BER and network accuracy vs SET energy per bit, 1T1R and 2T2R; "
                                      "programmed distributions (probit)")
    networks = sorted({key[len("accuracy_"):-len("_clean")] for key in rows[0] if key.endswith("_clean")})

    def interval(row, key, scale=1.0, fmt="{:.3g}"):
        return f"{fmt.format(row[key] * scale)} [{fmt.format(row[key + '_ci_low'] * scale)}, " \
               f"{fmt.format(row[key + '_ci_high'] * scale)}]"

    doc.table(["condition", "read", "cells", "energy per bit (pJ)", "write failures (%)", "LRS median (kohm)",
               "sigma ln R", "BER [95 %] (offset integral)", "BER [95 %] (ngspice mc)",
               *(f"{name} accuracy (%)" for name in networks)],
              [[r["condition"], r["architecture"], r["cells"], interval(r, "energy_per_bit_j", 1e12),
                interval(r, "write_failure", 100, "{:.1f}"), f"{r['lrs_median_ohm'] / 1e3:.2f}", f"{r['sigma_ln_lrs']:.2f}",
                interval(r, "ber"), interval(r, "ber_mc") + f" of {r['ber_mc_reads']}" if r["ber_mc_reads"] else "not simulated",
                *(interval(r, f"accuracy_{name}", 100, "{:.1f}") for name in networks)] for r in rows])
    doc.paragraph(f"Energy: {summary['energy']}. Methods: " + "; ".join(f"{k}: {v}" for k, v in summary["methods"].items())
                  + f". HRS: {summary['hrs']}. Accuracy: {summary['accuracy']}. Table: program/tradeoff.csv.", note=True)


def _disturb_section(doc: _Document, out: Path) -> None:
    """Reads to failure per corner and read bias (as designed, clamp, slew-limited word line)."""
    saved = json.loads((out / "disturb" / "disturb.json").read_text())
    doc.heading("6b. Read disturb over a lifetime: reads to failure per corner")
    doc.image("disturb/reads_to_failure.png", "reads to failure per corner and read bias")

    def reads(row: dict) -> str:
        if row["reads_to_failure"] == "":
            return "none predicted"
        return f"{_g(row['reads_to_failure'])} ({_g(row['rtf_low'])} .. {_g(row['rtf_high'])})"

    doc.table(["scheme", "weight", "corner", "read bias", "peak V BL / BLb (RESET dir.)",
               "peak mV BL / BLb (SET dir.)", "cell energy per read (fJ)", "gap change per read (pm) BL / BLb",
               "delay (ps)", "margin (V)", "read energy (fJ)", "reads to failure (law spread)", "basis"],
              [[row["scheme"], f"{int(row['weight']):+d}", f"{row['corner']}, {_g(row['vdd'])} V, {_g(row['temp_c'])} C",
                row["bias"], f"{row['bl_peak_reset_v']:.3f} / {row['blb_peak_reset_v']:.3f}",
                f"{row['bl_peak_set_v'] * 1e3:.1f} / {row['blb_peak_set_v'] * 1e3:.1f}",
                f"{(row['bl_energy_per_read_j'] + row['blb_energy_per_read_j']) * 1e15:.2f}",
                f"{row['bl_change_per_read_m'] * 1e12:.3g} / {row['blb_change_per_read_m'] * 1e12:.3g}",
                f"{row['delay_s'] * 1e12:.0f}", f"{row['margin_v']:.3f}", f"{row['read_energy_j'] * 1e15:.1f}",
                reads(row), row["basis"]]
               for row in saved["rows"]])
    for failure in saved.get("failed_points", []):
        doc.paragraph(f"Not simulated (ngspice failed, no rows): {failure}", note=True)
    for retry in saved.get("retried_simulations", []):
        doc.paragraph(f"Retried (ngspice did not converge with its default settings): {retry}", note=True)
    doc.paragraph(f"Card: {saved['card']['source']}. Simulated: {saved['settings']['reads']} consecutive reads per "
                  "transient; every reads-to-failure beyond them is the fitted drift law's extrapolation. "
                  "Assumptions: " + "; ".join(saved["assumptions"]) + ".", note=True)


def _mlc_section(doc: _Document, out: Path, stage: dict) -> None:
    """Multi-level write-verify (the fitted pulse model) beside the real 32-level runs."""
    summary = json.loads((out / "mlc" / "summary.json").read_text())
    settings = summary["settings"]
    doc.heading(f"6. Multi-level cells: {settings['levels']}-level {settings['scheme']} write-verify")
    for line in stage.get("fallbacks", []):
        doc.paragraph(f"Fallback: {line}", note=True)
    success, errors = summary["success"], summary["level_error_rate"]
    doc.table(["cells", "in band at the last verify (%)", "95 % interval (%)", "later read outside its band (%)",
               "95 % interval (%)", "pulses per cell", "pulse energy per cell (pJ)"],
              [[summary["cells"], f"{success['fraction'] * 100:.1f}",
                f"{success['ci_low'] * 100:.1f} .. {success['ci_high'] * 100:.1f}", f"{errors['fraction'] * 100:.1f}",
                f"{errors['ci_low'] * 100:.1f} .. {errors['ci_high'] * 100:.1f}", f"{summary['pulses_mean']:.1f}",
                f"{summary['pulse_energy_j_mean'] * 1e12:.0f}"]])
    comparison_path = out / "mlc" / "comparison.json"
    if comparison_path.exists():
        comparison = json.loads(comparison_path.read_text())
        doc.image("mlc/mlc_levels.png", "read conductance per programmed level, simulated and measured (probit)")
        doc.image("mlc/mlc_confusion.png", "level confusion, simulated and measured")
        doc.table(["population", "cells", "read in its band (%)", "mean adjacent-level confusion",
                   "distinguishable levels", "what it is"],
                  [[name, entry["cells"], f"{entry['in_band_fraction'] * 100:.1f}",
                    f"{entry['mean_adjacent_confusion']:.3f}", entry["distinguishable_levels"], entry["note"]]
                   for name, entry in comparison["populations"].items()])
        doc.paragraph(f"Measured: {comparison['measured_source']}.", note=True)
    doc.paragraph(f"Distinguishable levels: {summary['distinguishable']['definition']} (threshold "
                  f"{summary['distinguishable']['threshold']:g}). Energy: {summary['energy_method']}. Drift: "
                  f"{summary['drift']}. Read noise: {summary['read_noise']}. Rate spread: "
                  f"{summary.get('rate_split', 'all per pulse (no cycling data)')}. The confusion table is "
                  "mlc/ber_table.csv (scheme mlc<N>).", note=True)
