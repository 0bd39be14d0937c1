"""The sky130 transistor models load and behave physically across corners."""

from __future__ import annotations

import pytest

from circuitkit.spice.runner import run_batch

pytestmark = pytest.mark.spice


def _inverter(corner: str) -> str:
    return f"""* sky130 inverter, {corner} corner
.lib circuitkit_sky130_fet.lib {corner}
.param vdd=1.8
VDD vdd 0 {{vdd}}
VIN in 0 PULSE(0 {{vdd}} 1n 50p 50p 2n 4n)
XN out in 0 0 sky130_fd_pr__nfet_01v8 w=1 l=0.15
XP out in vdd vdd sky130_fd_pr__pfet_01v8 w=2 l=0.15
CL out 0 10f
.tran 5p 6n
.meas tran tphl trig v(in) val=0.9 rise=1 targ v(out) val=0.9 fall=1
.meas tran tplh trig v(in) val=0.9 fall=1 targ v(out) val=0.9 rise=1
.end
"""


def _switching_point(corner: str) -> float:
    result = run_batch(
        f"* sky130 inverter transfer, {corner}\n.lib circuitkit_sky130_fet.lib {corner}\n"
        "VDD vdd 0 1.8\nVIN in 0 0\n"
        "XN out in 0 0 sky130_fd_pr__nfet_01v8 w=1 l=0.15\n"
        "XP out in vdd vdd sky130_fd_pr__pfet_01v8 w=2 l=0.15\n"
        ".dc VIN 0 1.8 0.005\n.meas dc vsw find v(in) when v(out)=0.9\n.end\n"
    )
    return result.measure("vsw")


@pytest.fixture(scope="module")
def delays():
    return {corner: run_batch(_inverter(corner)).measures for corner in ("tt", "ss", "ff", "sf", "fs")}


def test_slow_corner_is_slower_and_fast_corner_faster(delays):
    for corner, measures in delays.items():
        print(f"{corner}: tphl {measures['tphl'] * 1e12:.2f} ps, tplh {measures['tplh'] * 1e12:.2f} ps")
    for edge in ("tphl", "tplh"):
        assert delays["ff"][edge] < delays["tt"][edge] < delays["ss"][edge]
        assert 1e-12 < delays["tt"][edge] < 1e-9


def test_switching_point_moves_with_the_nmos_pmos_balance(delays):
    """A corner whose NMOS got relatively stronger than its PMOS (judged from the measured
    pull-down vs pull-up delays, not from the corner's label) has a lower switching point.

    Note: in these sky130 model files `sf` makes the NMOS faster and the PMOS slower (and
    `fs` the reverse), whatever the library header's wording suggests; the test relies on
    the measured drive strengths only.
    """
    points = {corner: _switching_point(corner) for corner in ("tt", "ss", "sf", "fs")}
    print({corner: round(value, 4) for corner, value in points.items()})
    for corner in ("sf", "fs"):
        nmos_gain = delays["tt"]["tphl"] / delays[corner]["tphl"]
        pmos_gain = delays["tt"]["tplh"] / delays[corner]["tplh"]
        print(f"{corner}: NMOS drive x{nmos_gain:.3f}, PMOS drive x{pmos_gain:.3f}, V_M {points[corner]:.4f} V")
        if nmos_gain > pmos_gain:
            assert points[corner] < points["tt"] - 0.01
        else:
            assert points[corner] > points["tt"] + 0.01
    # The skewed corners straddle tt.
    assert min(points["sf"], points["fs"]) < points["tt"] < max(points["sf"], points["fs"])
    assert points["ss"] != pytest.approx(points["tt"], abs=1e-4)
    assert 0.5 < points["tt"] < 1.3
