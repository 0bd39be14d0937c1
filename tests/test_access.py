"""The access-transistor surrogate and the 1T1R cell-voltage solve against ngspice itself."""

from __future__ import annotations

import numpy as np
import pytest

from circuitkit.device.access import AccessTransistor, fet_table, ngspice_drain_current, table_key
from circuitkit.device.model import ModelCard
from circuitkit.device.pulse import PulseCondition, PulseModel, ReadNoise, solve_cell_voltage
from circuitkit.device.resimulate import ngspice_1t1r_pulses
from circuitkit.spice.runner import run_batch

pytestmark = pytest.mark.spice

CARD = ModelCard.from_values({"v0": 0.48, "i0": 1.19e-4, "vel0": 0.4, "gamma0": 20.0, "beta": 0.0, "gmin": 0.16e-9,
                              "gmax": 0.55e-9})


def test_surrogate_equals_ngspice_at_random_bias_points():
    table = fet_table(AccessTransistor())
    rng = np.random.default_rng(7)
    n = 160
    source = np.where(np.arange(n) % 2 == 0, 0.0, rng.uniform(0.0, 2.5, n))  # SET (source grounded) and RESET
    gate = rng.uniform(0.0, 3.4, n)
    drain = source + rng.uniform(0.005, 3.0, n)
    surrogate = table.drain_current(gate, drain, source)
    spice = ngspice_drain_current(table.transistor, gate, drain, source)
    large = spice > 1e-9
    relative = np.abs(surrogate[large] / spice[large] - 1)
    print(f"{large.sum()} points above 1 nA: median relative error {np.median(relative):.2e}, max {relative.max():.2e}")
    assert np.median(relative) < 2e-3 and relative.max() < 0.04
    assert np.max(np.abs(surrogate[~large] - spice[~large])) < 2e-10
    # drain and source swap roles: the current reverses
    np.testing.assert_allclose(table.drain_current(gate[:5], source[:5], drain[:5]), -surrogate[:5])


def test_cache_key_names_what_the_table_depends_on():
    base = AccessTransistor()
    keys = {table_key(t) for t in (base, AccessTransistor(w_um=2.0), AccessTransistor(l_um=1.0),
                                   AccessTransistor(corner="ss"), AccessTransistor(temp_c=85.0))}
    assert len(keys) == 5 and table_key(AccessTransistor()) == table_key(base)
    with pytest.raises(Exception, match="outside the model's range"):
        AccessTransistor(w_um=0.1)


def test_extraction_loads_the_bin_resolved_library_and_its_reduction_keys_the_cache(monkeypatch):
    from circuitkit import toolchain as tc
    from circuitkit.device.access import extraction_netlist
    from circuitkit.spice.deck import binned_library_used

    transistor = AccessTransistor()
    netlist = extraction_netlist(transistor)
    assert "circuitkit_sky130_fet.lib" not in netlist
    library = binned_library_used(netlist)
    assert library is not None and set(library.kept) == {transistor.device}
    assert [b.name.rsplit(".", 1)[1] for b in library.kept[transistor.device]] == ["42", "49"]  # W = 1 um: a boundary
    before = table_key(transistor)
    monkeypatch.setattr(tc, "REDUCTION_VERSION", tc.REDUCTION_VERSION + 1)
    assert table_key(transistor) != before


@pytest.mark.parametrize("v_wl, v_bl, v_sl, r_cell", [(0.9, 2.0, 0.0, 80e3), (1.5, 3.0, 0.0, 9e3), (3.3, 0.0, 2.5, 9e3),
                                                       (2.0, 0.0, 3.0, 60e3)])
def test_cell_voltage_solve_equals_an_ngspice_operating_point(v_wl, v_bl, v_sl, r_cell):
    """1T1R at DC (the .va pins its gap at DC): our KCL solve on the surrogate against ngspice."""
    transistor = AccessTransistor()
    gap = float(CARD.gap_for_resistance(r_cell, 0.2))
    solved = float(solve_cell_voltage(CARD, fet_table(transistor), v_wl, v_bl, v_sl, gap))
    netlist = "\n".join([
        "* 1T1R operating point", f".lib circuitkit_sky130_fet.lib {transistor.corner}", CARD.model_line("rram"),
        f"Vwl wl 0 {v_wl}", f"Vbl bl 0 {v_bl}", f"Vsl sl 0 {v_sl}",
        f"N1 bl x rram {CARD.instance_parameters(**CARD.instance_for_gap(gap))}",  # its own bound past gmax
        f"XM1 x wl sl 0 {transistor.device} w={transistor.w_um:g} l={transistor.l_um:g}", ".op", ".end"]) + "\n"
    result = run_batch(netlist)
    spice = v_bl - float(np.asarray(result["v(x)"]).ravel()[0])
    print(f"V_cell: solve {solved:.6f} V, ngspice {spice:.6f} V")
    assert solved == pytest.approx(spice, abs=2e-3 + 0.01 * abs(spice))
    assert np.sign(solved) == np.sign(v_bl - v_sl)


def test_pulse_model_equals_a_1t1r_transient_in_ngspice():
    """R after a SET or RESET pulse from the Python model (surrogate + quadrature of the gap
    ODE) against full 1T1R transients with the sky130 transistor and the compiled .va."""
    rng = np.random.default_rng(3)
    n = 40
    is_set = np.arange(n) % 2 == 0
    v_wl = rng.uniform(0.7, 3.3, n)
    line = rng.uniform(1.0, 3.0, n)
    condition = PulseCondition(v_wl, np.where(is_set, line, 0.0), np.where(is_set, 0.0, line),
                               rng.choice([2e-8, 2e-7, 2e-6], n))
    r_before = np.where(is_set, rng.uniform(40e3, 200e3, n), rng.uniform(7e3, 12e3, n))
    model = PulseModel(CARD, AccessTransistor(), (3.0, 1.0), ReadNoise(), 0.2)
    python = model.deterministic_after(r_before, condition)
    v_wl, v_bl, v_sl, width = condition.arrays()
    gaps = ngspice_1t1r_pulses(CARD, model.transistor, v_wl, v_bl, v_sl, width, model.gap(r_before))
    spice = model.resistance(gaps)
    difference = np.log(spice / python)
    moved = np.abs(np.log(python / r_before)) > 0.3
    print(f"{moved.sum()} of {n} pulses switch; rms ln R difference {np.sqrt(np.mean(difference ** 2)):.2e}")
    assert moved.sum() >= 8 and (~moved).sum() >= 4  # both regimes exercised
    assert np.sqrt(np.mean(difference ** 2)) < 0.03


def test_the_safer_retry_carries_a_steep_card_through_a_hard_set_edge():
    """The refitted real card (gamma0 ~25) SETs an LRS cell with 3 V behind a 3.2 V word line: with
    20 ps edges the retry's gear integration stopped on "timestep too small" at the edge (so did the
    first attempt on other rows of the real re-simulation); the safer retry (gear, looser
    tolerances, edges of 1 % of the width) runs it."""
    from pathlib import Path

    card = ModelCard.load(Path(__file__).resolve().parents[1] / "characterization/fits/real_1t1r/pulse/model_card.json")
    row = dict(v_wl=np.array([3.2]), v_bl=np.array([3.0]), v_sl=np.array([0.0]), width=np.array([2e-8]),
               gap_before=np.array([1.469804348e-10]))
    [gap_after] = ngspice_1t1r_pulses(card, AccessTransistor(), **row, safer=True)
    # SET: the gap closes to gmin (within the bound window gwin: gear at reltol 1e-3 overshoots by ~0.01 nm)
    assert card.value("gmin") - card.value("gwin") <= gap_after < 0.8 * row["gap_before"][0]
