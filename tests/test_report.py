"""The report's plots and tables say no more than the data show (no ngspice here)."""

from __future__ import annotations

import matplotlib.axes
import pytest

from circuitkit.report.plots import plot_accuracy_with_campaigns

SWEEP = [{"ber": repr(ber), "accuracy_mean": repr(acc), "ci_low": repr(acc - 0.01), "ci_high": repr(acc + 0.01)}
         for ber, acc in ((1e-6, 0.95), (1e-4, 0.95), (1e-2, 0.90), (1e-1, 0.60))]


def _point(ber: float, ber_high: float, **fields) -> dict:
    return {"corner": "tt", "vdd": "1.8", "temp_c": "27.0", "scheme": "binary", "ber": repr(ber),
            "accuracy_mean": "0.95", "ci_low": "0.95", "ci_high": "0.95", "ber_ci_low": repr(0.0 if ber == 0 else ber / 2),
            "ber_ci_high": repr(ber_high), **fields}


def test_a_condition_without_errors_is_drawn_at_its_ber_upper_bound(tmp_path, monkeypatch):
    """0 errors in 128 reads only bound the BER below 2.8 %: the point goes there (with a
    'less than' marker), at the accuracy the network keeps at that bound, never at the
    plot's left edge as if the BER were 1e-6."""
    drawn = []
    real = matplotlib.axes.Axes.errorbar

    def recording_errorbar(self, x, y, *args, **kwargs):
        drawn.append({"x": list(x), "y": list(y), **kwargs})
        return real(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", recording_errorbar)
    points = {"BNN, binary table (mc)": [
        _point(0.0, 0.0284, accuracy_mean_at_ber_ci_high="0.80", accuracy_low_at_ber_ci_high="0.74"),
        _point(0.01, 0.03)]}
    plot_accuracy_with_campaigns({"BNN": SWEEP}, points, tmp_path / "accuracy.png")
    zero, seen = drawn
    assert zero["x"] == [pytest.approx(0.0284)] and zero["marker"] == "<"
    assert zero["y"] == [pytest.approx(80.0)]
    # The accuracy bar spans the BER's uncertainty: 74 % at the upper bound .. 95 % at the estimate.
    assert zero["yerr"] == [[pytest.approx(6.0)], [pytest.approx(15.0)]]
    assert seen["x"] == [pytest.approx(0.01)] and seen["xerr"] == [[pytest.approx(0.005)], [pytest.approx(0.02)]]
    assert (tmp_path / "accuracy.png").stat().st_size > 10_000


class _Record:
    def __init__(self, summary):
        self.summary = summary


def test_the_report_names_the_device_spread_each_campaign_used():
    from circuitkit.report.html import spread_lines

    records = {"netlists": _Record({}),
               "ber_binary": _Record({"device_spread": "literature defaults, not your data (LRS ...)"}),
               "ber_rare": _Record({"device_spread": "literature defaults, not your data (LRS ...)"})}
    assert spread_lines(records) == ["Device spread (LRS/HRS resistance distributions the Monte Carlo draws from): "
                                     "literature defaults, not your data (LRS ...)"]


def test_the_ber_figure_draws_each_estimate_in_its_methods_style_and_bounds_only_where_none_measured(tmp_path,
                                                                                                       monkeypatch):
    """Brute force saw no error at tt: the offset method's estimates are drawn there (its
    style), not the upper bounds; ss 1.2 V has brute-force errors (mc style, with the
    interval); at ss 1.8 V nothing measured: only there an upper bound."""
    import numpy as np

    from circuitkit.ber_table import BerTable, Condition
    from circuitkit.report.plots import METHOD_STYLES, plot_ber_vs_vdd

    bars, lines = [], []
    real_errorbar, real_plot = matplotlib.axes.Axes.errorbar, matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar",
                        lambda self, x, y, *a, **k: bars.append({"x": list(x), "y": list(y), **k})
                        or real_errorbar(self, x, y, *a, **k))
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda self, x, y, *a, **k: lines.append({"x": list(x), "y": list(y), **k})
                        or real_plot(self, x, y, *a, **k))
    condition = {(corner, vdd): Condition(corner, vdd, 27.0, "binary") for corner in ("tt", "ss") for vdd in (1.2, 1.8)}
    brute = BerTable.from_counts({condition["tt", 1.2]: np.array([[128, 0], [0, 128]]),
                                  condition["tt", 1.8]: np.array([[128, 0], [0, 128]]),
                                  condition["ss", 1.2]: np.array([[125, 3], [1, 127]]),
                                  condition["ss", 1.8]: np.array([[128, 0], [0, 128]])})
    rare = BerTable.from_probabilities({condition["tt", vdd]: [[1 - ber, ber], [ber, 1 - ber]]
                                        for vdd, ber in ((1.2, 1e-5), (1.8, 1e-8))}, method="offset")
    plot_ber_vs_vdd([brute, rare], tmp_path / "ber.png")
    by_marker = {bar["marker"]: bar for bar in bars}
    assert set(by_marker) == {METHOD_STYLES["offset"]["marker"], METHOD_STYLES["mc"]["marker"]}
    offset, counted = by_marker["s"], by_marker["o"]
    assert offset["y"] == [pytest.approx(1e-5), pytest.approx(1e-8)] and offset["linestyle"] == "--"
    assert counted["y"] == [pytest.approx((3 / 128 + 1 / 128) / 2)] and counted["yerr"][1][0] > 0
    bounds = [line for line in lines if line.get("marker") == "v"]
    assert len(bounds) == 1 and bounds[0]["x"] == [1.8] and "ss" in bounds[0]["label"]
    assert (tmp_path / "ber.png").stat().st_size > 10_000
