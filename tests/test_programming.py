"""Programming benches in real ngspice: SET, RESET and forming of 1T1R and 2T2R cells through
the sky130 access transistor, and the errors a bad condition gets before any simulation."""

from __future__ import annotations

import re

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit import toolchain as tc
from circuitkit.device.access import AccessTransistor
from circuitkit.device.model import ModelCard
from circuitkit.mlc.campaign import default_cards
from circuitkit.netlist import programming as pg
from circuitkit.netlist.programming import Operation, ProgrammingPulse

pytestmark = pytest.mark.spice

CORE = AccessTransistor("sky130_fd_pr__nfet_01v8", 1.0, 0.15)


@pytest.fixture(scope="module")
def real_card() -> ModelCard:
    return default_cards()[0]


def test_a_set_with_a_higher_word_line_ends_lower_and_draws_more_current(real_card):
    """The bundled real card, HRS cells (86 kohm), BL 2 V for 1 us: the word line sets the
    compliance (one bench per word-line voltage, three cells per deck)."""
    hrs = float(real_card.gap_for_resistance(86e3))
    finals, peaks, energies = [], [], []
    for v_wl in (1.0, 1.3, 2.0):
        result = pg.one_t_one_r_program(ProgrammingPulse("set", v_wl, 2.0, 1e-6), [hrs] * 3, card=real_card).simulate()
        assert result.r_read.shape == (3, 1)
        np.testing.assert_allclose(result.r_read, result.r_read[0, 0], rtol=1e-6)  # same cells, same outcome
        # the read at the read bias (V(te,be)/I in ngspice) is the card's resistance of the final gap
        np.testing.assert_allclose(result.r_read, real_card.resistance(result.gap_final, result.v_read), rtol=0.02)
        finals.append(result.r_read[0, 0])
        peaks.append(result.peak_current[0, 0, 0])
        energies.append(result.energy["bl"][0])
        assert result.energy["sl"][0] == 0.0 and result.energy["wl"][0] > 0  # SL at 0 V; the gate is charged
    print(f"SET R after {finals}, peak current {peaks}, BL energy {energies}")
    assert finals[0] > finals[1] > finals[2]
    assert peaks[0] < peaks[1] < peaks[2]
    assert energies[0] < energies[1] < energies[2]
    assert finals[2] < 86e3 / pg.SWITCH_RATIO


def test_a_reset_raises_the_resistance_and_one_out_of_reach_is_refused():
    """The Verilog-A default card RESETs an LRS cell, and so does the bundled real card since its
    RESET threshold was refitted within the pulses' reach (issue 15 part C: 1.31 GV/m, was
    6.1 GV/m); a card whose RESET threshold a 3 V / 3.3 V pulse cannot reach is refused before
    any simulation."""
    real = default_cards()[0]
    for card in (ModelCard.default(), real):
        lrs = float(card.gap_for_resistance(10e3))
        result = pg.one_t_one_r_program(pg.DEFAULT_RESET, [lrs], card=card).simulate()
        assert result.r_read[0, 0] > 10 * 10e3 and result.switched.all()
        assert result.energy["sl"][0] > 0 and result.energy["bl"][0] == 0.0
    stranded = real.with_values({"fmin_reset": 6.1e9})
    with pytest.raises(CircuitkitError, match="cannot switch .*fmin_reset"):
        pg.one_t_one_r_program(pg.DEFAULT_RESET, [float(stranded.gap_for_resistance(10e3))], card=stranded)


def test_forming_from_the_virgin_state(real_card):
    """The card's virgin state is its widest gap (gmax): forming SETs from there."""
    bench = pg.form("1t1r", 2, real_card)
    np.testing.assert_allclose(bench.gap_before, real_card.value("gmax"))
    result = bench.simulate()
    assert result.r_before[0, 0] == pytest.approx(float(real_card.resistance(real_card.value("gmax"))))
    assert np.all(result.r_read < result.r_before / pg.SWITCH_RATIO) and result.switched.all()


def test_a_2t2r_write_sets_one_device_and_resets_the_other():
    """Default card: weight +1 puts BL in LRS and BLb in HRS, -1 the reverse, from cells
    holding the opposite weight; the inhibited partner keeps its state during the RESET."""
    card = ModelCard.default()
    lrs, hrs = (float(card.gap_for_resistance(r)) for r in (10e3, 200e3))
    set_pulse = ProgrammingPulse("set", 1.8, 2.5, 1e-6)
    bench = pg.two_t_two_r_write([+1, -1], [[hrs, lrs], [lrs, hrs]], card=card, set_pulse=set_pulse)
    result = bench.simulate()
    bl, blb = result.r_read[:, 0], result.r_read[:, 1]
    print(f"2T2R after: BL {bl}, BLb {blb}")
    assert bl[0] < 200e3 / 2 and blb[0] > 10e3 * 2 and blb[1] < 200e3 / 2 and bl[1] > 10e3 * 2
    assert bl[0] * 10 < blb[0] and blb[1] * 10 < bl[1]
    assert result.switched.all()
    assert set(result.energy) == {"wl", "bl", "blb", "sl"}


def test_bad_conditions_are_refused_before_any_simulation(real_card, monkeypatch):
    import circuitkit.netlist.bench as bench_module

    monkeypatch.setattr(bench_module, "run_batch", lambda *a, **k: pytest.fail("simulated a refused condition"))
    hrs = float(real_card.gap_for_resistance(86e3))
    with pytest.raises(CircuitkitError, match=r"v_wl=2\.5 V puts V_GS .*nfet_01v8.*1\.95 V"):
        pg.one_t_one_r_program(ProgrammingPulse("set", 2.5, 1.5, 1e-6), [hrs], card=real_card, transistor=CORE)
    with pytest.raises(CircuitkitError, match=r"amplitude=2 V puts V_DS .*1\.95 V"):
        pg.one_t_one_r_program(ProgrammingPulse("set", 1.5, 2.0, 1e-6), [hrs], card=real_card, transistor=CORE)
    with pytest.raises(CircuitkitError, match=r"v_wl=6 V puts V_GS .*g5v0d10v5.*5\.5 V"):
        pg.one_t_one_r_program(ProgrammingPulse("set", 6.0, 2.0, 1e-6), [hrs], card=real_card)
    card = ModelCard.default()
    with pytest.raises(CircuitkitError, match=r"cannot switch 1 of 1 cells .*fmin_set"):
        pg.one_t_one_r_program(ProgrammingPulse("set", 1.5, 0.3, 1e-6), [float(card.gap_for_resistance(86e3))],
                               card=card)


def test_the_cant_switch_check_is_the_models_threshold():
    """Default card, HRS cell: where the check finds the field below fmin_set, ngspice moves
    the cell not at all; where it finds it above, the cell SETs."""
    card = ModelCard.default()
    gap = float(card.gap_for_resistance(86e3))
    below, above = ProgrammingPulse("set", 1.5, 2.0, 1e-6), ProgrammingPulse("set", 1.8, 2.5, 1e-6)
    margins = [pg.switching_margin(card, AccessTransistor(), p, [gap])[0] for p in (below, above)]
    assert margins[0] < 1 < margins[1]
    still = pg.one_t_one_r_program(below, [gap], card=card, check_switching=False).simulate()
    assert still.gap_final[0, 0] == pytest.approx(gap, abs=1e-15)
    moved = pg.one_t_one_r_program(above, [gap], card=card).simulate()
    assert moved.gap_final[0, 0] < gap - 0.1e-9


def test_the_core_device_programs_within_its_rating(real_card):
    """The 1.8 V core nfet_01v8 (W/L 1/0.15 um) as access device: a SET within 1.95 V works."""
    hrs = float(real_card.gap_for_resistance(86e3))
    result = pg.one_t_one_r_program(ProgrammingPulse("set", 1.8, 1.8, 1e-6), [hrs], card=real_card,
                                    transistor=CORE).simulate()
    assert result.switched.all()
    assert "sky130_fd_pr__nfet_01v8" in pg.one_t_one_r_program(
        ProgrammingPulse("set", 1.8, 1.8, 1e-6), [hrs], card=real_card, transistor=CORE).to_netlist()


def test_the_ratings_are_not_in_the_installed_model_files():
    """The ratings are SkyWater's documented operating voltages (cited in VOLTAGE_RATINGS):
    the installed model files hold every rated device but no safe-operating-area limits."""
    text = (tc.toolchain().sky130.directory / "models_fet.spice").read_text().lower()
    for device in pg.VOLTAGE_RATINGS:
        assert re.search(rf"^\.subckt\s+{device}\s", text, re.MULTILINE)
    assert not re.search(r"\b(vgsmax|vdsmax|vbsmax|vgdmax|vgbmax|vbdmax)\b", text)


def test_forming_a_2t2r_cell_forms_both_devices(real_card):
    result = pg.form("2t2r", 1, real_card).simulate()
    assert result.r_read.shape == (1, 2) and np.all(result.r_read < result.r_before / pg.SWITCH_RATIO)
    assert result.energy["bl"][0] > 0 and result.energy["blb"][0] > 0


def _cells_section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "cells: RRAM te on the bit line" in line)
    stop = next(i for i in range(start + 1, len(lines)) if "analysis" in lines[i])
    return [line for line in lines[start + 1:stop] if line]


def test_a_deck_drives_each_cell_as_the_cell_alone():
    """A 2T2R deck of mixed weights (each phase's targets built once per deck): cell k's
    sources and devices are those of a one-cell deck of that cell, renumbered."""
    card = ModelCard.default()
    lrs, hrs = (float(card.gap_for_resistance(r)) for r in (10e3, 200e3))
    weights = [+1, -1, -1, +1, -1]
    gaps = [[hrs, lrs] if w > 0 else [lrs, hrs] for w in weights]
    set_pulse = ProgrammingPulse("set", 1.8, 2.5, 1e-6)
    deck = _cells_section(pg.two_t_two_r_write(weights, gaps, card=card, set_pulse=set_pulse,
                                               rate_scale=[[1.0 + k, 2.0 + k] for k in range(5)]).to_netlist())
    alone = []
    for k, (weight, gap) in enumerate(zip(weights, gaps)):
        text = pg.two_t_two_r_write([weight], [gap], card=card, set_pulse=set_pulse,
                                    rate_scale=[[1.0 + k, 2.0 + k]]).to_netlist()
        text = re.sub(r"\b(Vwl|Vblb|Vbl|Vsl|wl|blb|bl|sl)0\b", rf"\g<1>{k}", text)
        alone += _cells_section(re.sub(r"\b(N|XM|x)0_", rf"\g<1>{k}_", text))
    assert deck == alone
    # and the weights differ: the SET drives BL of a +1 cell, not of a -1 cell
    first_corners = [deck[deck.index(f"Vbl{k} bl{k} 0 PWL(") + 1] for k in range(2)]
    assert first_corners[0].startswith("+ 0 0 2e-09 0 4e-09 2.5") and not first_corners[1].startswith("+ 0 0 2e-09")
