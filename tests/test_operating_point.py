"""One operating point from the command line to the netlist and back into the table."""

from __future__ import annotations

import csv
import re

import pytest

from circuitkit import CircuitkitError
from circuitkit.ber_table import Condition
from circuitkit.operating import OPERATING_RANGE, Corner, OperatingPoint


def test_an_operating_point_is_checked_and_normalised_once_made():
    point = OperatingPoint("ss", 1, 85)
    assert point.corner is Corner.SS and point.corner == "ss" and f"{point.corner}" == "ss"
    assert (point.vdd, point.temp_c) == (1.0, 85.0) and type(point.vdd) is float
    assert point.label() == "ss, 1 V, 85 C"
    for bad, message in ((dict(corner="typical"), "unknown process corner 'typical'"),
                         (dict(vdd=OPERATING_RANGE.vdd_max + 0.01), "vdd=1.99 V is outside"),
                         (dict(vdd="high"), "vdd='high' V: expected a finite number"),
                         (dict(temp_c=float("nan")), "temp_c=nan C is outside")):
        with pytest.raises(CircuitkitError, match=re.escape(message)):
            OperatingPoint(**bad)


def test_a_condition_is_a_point_and_a_scheme_or_a_synthetic_label():
    point = OperatingPoint("ff", 0.9, -40.0)
    condition = Condition.at(point, "ternary")
    assert condition == Condition("ff", 0.9, -40.0, "ternary") and condition.point == point
    assert type(condition.corner) is str          # the table's column stays plain text
    with pytest.raises(CircuitkitError, match="unknown process corner 'symmetric-ber-0.001'"):
        Condition("symmetric-ber-0.001", 0.0, 0.0, "binary").point


@pytest.mark.spice
def test_vdd_walks_from_the_command_line_to_the_netlist_and_the_table_as_one_object(tmp_path, monkeypatch):
    """`circuitkit ber --vdd 1.234`: the campaign makes the OperatingPoint (checked once),
    and the very same object reaches every bench that writes `.param vdd=`; the table's
    rows are made from it. No other type carries the supply on the way."""
    import circuitkit.corners.cli
    import circuitkit.operating
    from circuitkit.cli import main
    from circuitkit.netlist.pcsa import PcsaReadBench

    made, configs, benches = [], [], []
    real_post_init = OperatingPoint.__post_init__

    def counting_post_init(self):
        real_post_init(self)
        made.append(self)

    real_run_campaign, real_to_netlist = circuitkit.corners.cli.run_campaign, PcsaReadBench.to_netlist

    def recording_run_campaign(config, *args, **kwargs):
        configs.append(config)
        return real_run_campaign(config, *args, **kwargs)

    def recording_to_netlist(self):
        text = real_to_netlist(self)
        benches.append((self, text))
        return text

    monkeypatch.setattr(circuitkit.operating.OperatingPoint, "__post_init__", counting_post_init)
    monkeypatch.setattr(circuitkit.corners.cli, "run_campaign", recording_run_campaign)
    monkeypatch.setattr(PcsaReadBench, "to_netlist", recording_to_netlist)
    out = tmp_path / "campaign"
    assert main(["ber", "--corners", "ss", "--vdd", "1.234", "--temp-c", "85", "--samples", "2", "--batch-size", "2",
                 "--quiet", "-o", str(out)]) == 0

    [config] = configs
    [point] = config.points
    assert type(point) is OperatingPoint and (point.corner, point.vdd, point.temp_c) == ("ss", 1.234, 85.0)
    # Checked once: the only OperatingPoint at ss, 1.234 V ever made is the campaign's.
    assert [p for p in made if (p.corner, p.vdd) == ("ss", 1.234)] == [point]
    mc_benches = [(bench, text) for bench, text in benches if bench.point.corner == "ss"]
    assert len(mc_benches) == 2                                    # stored +1 and -1
    for bench, text in mc_benches:
        assert bench.point is point                                # handed on, never rebuilt
        assert "\n.param vdd=1.234\n" in text and "\n.temp 85\n" in text and "ss_mm\n" in text
    with open(out / "ber_table.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["corner"], row["vdd"], row["temp_c"]) for row in rows} == {("ss", "1.234", "85.0")}
