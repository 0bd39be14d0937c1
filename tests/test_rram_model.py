"""The Verilog-A RRAM model running in ngspice through OSDI (no mocks)."""

from __future__ import annotations

import numpy as np
import pytest

from circuitkit.spice.runner import SharedSession, run_batch

pytestmark = pytest.mark.spice

READ_V = 0.1
GAP_START = 1.2e-9

# Read at 0.1 V, triangular SET sweep to +1.6 V, read, triangular RESET sweep to -1.6 V,
# read. Each read plateau lasts 1 us; sweep legs 10 us.
SWEEP_NETLIST = f"""* rram_hfox pinched hysteresis
.model rram rram_hfox
V1 te 0 PWL(0 0 0.1u {READ_V} 1u {READ_V} 1.1u 0
+ 11.1u 1.6 21.1u 0 21.2u {READ_V} 22.1u {READ_V} 22.2u 0
+ 32.2u -1.6 42.2u 0 42.3u {READ_V} 43.2u {READ_V} 43.3u 0)
N1 te 0 rram gap_init={GAP_START}
.tran 5n 43.3u
.meas tran i_start find i(V1) at=0.9u
.meas tran i_after_set find i(V1) at=22u
.meas tran i_after_reset find i(V1) at=43u
.end
"""


@pytest.fixture(scope="module")
def sweep():
    return run_batch(SWEEP_NETLIST)


def test_pinched_hysteresis_set_positive_reset_negative(sweep):
    time, voltage = sweep["time"], sweep["te"]
    gap_nm = GAP_START * 1e9 + sweep["v(n1#dgap)"]
    rate = np.gradient(gap_nm, time)
    set_voltage = voltage[np.argmin(rate)]      # fastest gap shrink
    reset_voltage = voltage[np.argmax(rate)]    # fastest gap growth
    print(f"SET at {set_voltage:+.3f} V, RESET at {reset_voltage:+.3f} V")
    assert 0.5 < set_voltage <= 1.6
    assert -1.6 <= reset_voltage < -0.5
    # Pinched: at V = 0 the current is 0 whatever the state.
    zero_crossings = np.abs(voltage) < 1e-9
    assert np.all(np.abs(sweep["i(v1)"][zero_crossings]) < 1e-12)


def test_lrs_hrs_ratio_at_read_voltage(sweep):
    lrs_current = -sweep.measure("i_after_set")     # source current is negative when it drives
    hrs_current = -sweep.measure("i_after_reset")
    ratio = lrs_current / hrs_current
    print(f"R_LRS = {READ_V / lrs_current:.4g} ohm, R_HRS = {READ_V / hrs_current:.4g} ohm, ratio {ratio:.3g}")
    assert ratio > 5


def test_state_stays_within_bounds(sweep, default_card):
    gap = GAP_START + sweep["v(n1#dgap)"] * 1e-9
    gmin, gmax = default_card.value("gmin"), default_card.value("gmax")
    print(f"gap range {gap.min() * 1e9:.5f} .. {gap.max() * 1e9:.5f} nm; bounds {gmin * 1e9} .. {gmax * 1e9} nm")
    tolerance = 1e-3 * (gmax - gmin)
    assert gap.min() >= gmin - tolerance
    assert gap.max() <= gmax + tolerance
    # Both bounds are actually reached by the 1.6 V sweeps.
    assert gap.min() < gmin + 0.05e-9 and gap.max() > gmax - 0.05e-9


def test_dc_read_leaves_the_state_alone():
    result = run_batch(
        "* dc read\n.model rram rram_hfox\nV1 te 0 0\nN1 te 0 rram gap_init=0.5n\n.dc V1 -1.5 1.5 0.05\n.end\n"
    )
    assert np.all(result["v(n1#dgap)"] == 0.0)


def _population_netlist(seed: int, devices: int = 12) -> str:
    lines = [f"* {devices} devices with device-to-device spread", ".model rram rram_hfox", f"VREAD te 0 {READ_V}"]
    for index in range(devices):
        # A zero-volt source per device measures its current.
        lines.append(f"VS{index} te t{index} 0")
        lines.append(f"N{index} t{index} 0 rram gap_init={{0.5n + agauss(0, 0.05n, 1)}} i0_scale={{1 + agauss(0, 0.05, 1)}}")
    lines += [f".options seed={seed}", ".op", ".end"]
    return "\n".join(lines) + "\n"


def _population_currents(seed: int) -> np.ndarray:
    result = run_batch(_population_netlist(seed))
    return np.array([result[f"i(vs{index})"][0] for index in range(12)])


def test_instance_variability_is_per_device_and_seeded():
    first = _population_currents(seed=11)
    again = _population_currents(seed=11)
    other = _population_currents(seed=12)
    print("read currents (uA):", np.round(first * 1e6, 3))
    assert len(np.unique(first)) == len(first)           # every device different
    np.testing.assert_array_equal(first, again)           # same seed, same devices
    assert not np.allclose(first, other)                  # another seed, another population
    # Spread of ln(I) ~ sigma_gap / g0 = 0.05 / 0.25 = 0.2 (plus the i0_scale spread).
    assert 0.05 < np.std(np.log(first)) < 0.6


def test_shared_library_and_batch_agree():
    batch = run_batch(SWEEP_NETLIST)
    shared = SharedSession.get().run(SWEEP_NETLIST)
    for name in ("i_after_set", "i_after_reset"):
        assert shared.measure(name) == pytest.approx(batch.measure(name), rel=1e-6)
