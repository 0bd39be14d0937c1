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


# ------------------------------------------------------------------ issue 15: the physics of the model


def _hold_netlist(card, gaps, volts: float, duration: float, temp_c: float) -> str:
    """One device per gap, each held at `volts` for `duration` (a transient), at `temp_c`."""
    lines = [f"* cells held at {volts} V", f".temp {temp_c}", card.model_line("rram"), f"V1 te 0 {volts}"]
    for k, gap in enumerate(gaps):
        lines.append(f"N{k} te 0 rram {card.instance_parameters(gap_init=gap)}")
    lines += [f".tran {duration / 100:g} {duration:g}", ".end"]
    return "\n".join(lines) + "\n"


def _real_card():
    from pathlib import Path
    from circuitkit.device.model import ModelCard

    return ModelCard.load(Path(__file__).resolve().parents[1] / "characterization" / "fits" / "real_1t1r" / "pulse"
                          / "model_card.json")


@pytest.mark.parametrize("which", ["default", "fitted"])
def test_zero_drift_at_zero_bias_and_125c(which, default_card):
    """A cell held at 0 V for 1 s at 125 C never moves: at the bounds, a window width from
    them, and between (the split SET/RESET windows used to leave a drift near either bound)."""
    card = default_card if which == "default" else _real_card()
    gmin, gmax, gwin = card.value("gmin"), card.value("gmax"), card.value("gwin")
    gaps = [gmin, gmin + 0.3 * gwin, gmin + gwin, 0.5 * (gmin + gmax), gmax - gwin, gmax - 0.3 * gwin, gmax]
    result = run_batch(_hold_netlist(card, gaps, 0.0, 1.0, 125.0))
    assert result["time"][-1] == pytest.approx(1.0)
    moved = np.array([np.max(np.abs(result[f"v(n{k}#dgap)"])) for k in range(len(gaps))])  # nm
    print(f"{which} card, 1 s at 0 V and 125 C: largest state change {moved.max():.3g} nm")
    assert np.all(moved == 0.0)


def test_hrs_read_current_rises_with_temperature_and_lrs_barely_moves(default_card):
    gaps = {"LRS": default_card.value("gmin"), "HRS": float(default_card.gap_for_resistance(100e3))}
    currents = {}
    for temp_c in (27.0, 85.0, 125.0):
        netlist = (f"* reads at {temp_c} C\n.temp {temp_c}\n{default_card.model_line('rram')}\n"
                   f"VL l 0 {READ_V}\nNL l 0 rram {default_card.instance_parameters(gap_init=gaps['LRS'])}\n"
                   f"VH h 0 {READ_V}\nNH h 0 rram {default_card.instance_parameters(gap_init=gaps['HRS'])}\n.op\n.end\n")
        result = run_batch(netlist)
        currents[temp_c] = {"LRS": -result["i(vl)"][0], "HRS": -result["i(vh)"][0]}
    change = {state: currents[125.0][state] / currents[27.0][state] - 1 for state in ("LRS", "HRS")}
    print(f"read current 27 -> 125 C: LRS {change['LRS']:+.1%}, HRS {change['HRS']:+.1%}")
    assert currents[27.0]["HRS"] < currents[85.0]["HRS"] < currents[125.0]["HRS"]
    assert change["HRS"] > 0.2
    assert abs(change["LRS"]) < 0.15 and abs(change["LRS"]) < 0.5 * change["HRS"]


def test_no_state_change_below_the_field_threshold(default_card):
    """Held for 1 ms just below the SET threshold voltage (local field gam V/tox = fmin_set)
    the gap does not move at all; 10 % above it, it SETs."""
    gap = float(default_card.gap_for_resistance(100e3))
    gamma = default_card.value("gamma0") - default_card.value("beta") * (gap * 1e9) ** default_card.value("alpha")
    threshold = default_card.value("fmin_set") * default_card.value("tox") / gamma
    below = run_batch(_hold_netlist(default_card, [gap], 0.98 * threshold, 1e-3, 27.0))
    above = run_batch(_hold_netlist(default_card, [gap], 1.10 * threshold, 1e-3, 27.0))
    print(f"threshold {threshold:.3f} V at {gap * 1e9:.3f} nm: 0.98x moves {np.abs(below['v(n0#dgap)']).max():.3g} nm, "
          f"1.1x moves {np.abs(above['v(n0#dgap)']).max():.3g} nm")
    assert np.all(below["v(n0#dgap)"] == 0.0)
    assert above["v(n0#dgap)"][-1] < -0.1  # nm: it SETs


def test_initial_state_outside_its_bounds_stops_ngspice_naming_the_instance(default_card):
    from circuitkit.spice.runner import SimulationError

    netlist = (f"* out of bounds\n{default_card.model_line('rram')}\nV1 te 0 0.1\n"
               f"Ngood te 0 rram gap_init=0.5n\nNbad7 te 0 rram gap_init=1.9n gmax=1.7n\n.op\n.end\n")
    with pytest.raises(SimulationError, match=r"nbad7: rram_hfox: gap_init = 1\.9e-09 m lies outside its bounds "
                                              r"\[gmin, gmax\] = \[2e-10, 1\.7e-09\] m"):
        run_batch(netlist)
