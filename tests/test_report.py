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
