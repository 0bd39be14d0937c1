"""Program-and-verify in ngspice: a verify loop reaches a target a single pulse misses, stops at
its budget on a stuck cell, and a checkpointed campaign resumes to the uninterrupted result."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit.device.pulse import PulseModel, ReadNoise
from circuitkit.mlc.campaign import default_cards
from circuitkit.netlist.programming import ProgrammingPulse
from circuitkit.program.campaign import ProgramConfig, run_program_campaign
from circuitkit.program.verify import VerifyScheme, program_and_verify

pytestmark = pytest.mark.spice

WEAK_SET = ProgrammingPulse("set", 1.0, 2.0, 1e-6)  # the real card lands near 47 kohm from HRS


@pytest.fixture(scope="module")
def cards():
    return default_cards()


@pytest.fixture(scope="module")
def quiet_model(cards) -> PulseModel:
    """The bundled real pulse card without its random parts: every cell does the same."""
    model = PulseModel.from_card(cards[0])
    return dataclasses.replace(model, sigma_ln_rate=(0.0, 0.0), sigma_ln_program=(0.0, 0.0),
                               read_noise=ReadNoise(0.0, 1.0, 0.0))


def test_verify_meets_a_target_a_single_pulse_misses(quiet_model):
    start = np.array([86e3, 86e3])
    single = program_and_verify(quiet_model, VerifyScheme(WEAK_SET, 20e3, verify=False), start,
                                np.random.default_rng(1))
    assert not single.passed.any() and np.all(single.r_final > 20e3) and np.all(single.pulses == 1)
    ladder = VerifyScheme(WEAK_SET, 20e3, max_pulses=6, step_v_wl=0.1)
    verified = program_and_verify(quiet_model, ladder, start, np.random.default_rng(1))
    print(f"single pulse {single.r_final}, verified {verified.r_final} after {verified.pulses} pulses")
    assert verified.passed.all() and np.all(verified.r_final <= 20e3)
    assert np.all(verified.pulses > 1) and np.all(verified.pulses < 6)
    assert np.all(verified.pulse_energy_j > single.pulse_energy_j)
    # ngspice's own read after the last pulse is the state the loop carried
    np.testing.assert_allclose(verified.r_spice, verified.r_final, rtol=0.02)


def test_verify_stops_at_its_budget_on_a_stuck_cell(quiet_model):
    """Identical pulses at a compliance that holds the cell near 47 kohm: the target is out of
    reach, the loop spends its budget and reports the failure."""
    stuck = VerifyScheme(WEAK_SET, 20e3, max_pulses=4)
    outcome = program_and_verify(quiet_model, stuck, np.array([86e3]), np.random.default_rng(1))
    once = program_and_verify(quiet_model, dataclasses.replace(stuck, max_pulses=1), np.array([86e3]),
                              np.random.default_rng(1))
    assert not outcome.passed[0] and outcome.pulses[0] == 4 and outcome.r_final[0] > 20e3
    assert outcome.pulse_energy_j[0] > 3 * once.pulse_energy_j[0]


def test_a_campaign_resumes_to_the_uninterrupted_result_and_refuses_other_settings(cards, tmp_path):
    config = ProgramConfig(VerifyScheme(WEAK_SET, 20e3, max_pulses=3, step_v_wl=0.2), cells=6, batch_size=3, seed=4)
    whole = run_program_campaign(config, tmp_path / "whole", log=None)
    assert whole.outcome.pulses.size == 6 and whole.summary["cells"] == 6
    assert [line.split(":")[0] for line in whole.summary["fallbacks"]] == ["pulse model", "start distribution"]
    assert len(np.unique(whole.outcome.r_start)) == 6  # cells differ (drawn from the fitted HRS)
    interrupted = tmp_path / "interrupted"
    run_program_campaign(config, interrupted, log=None)
    (interrupted / "samples" / "batch_0001.npz").unlink()  # killed before the last batch finished
    messages: list[str] = []
    # the same cards, the pulse card given: only the start distribution falls back, announced and in the summary
    resumed = run_program_campaign(config, interrupted, pulse_card=cards[0], log=messages.append)
    fallback = "start distribution: none given, using the bundled real-device card (fits/real_1t1r/distribution/"
    assert [m for m in messages if m.startswith("fallback")] == [f"fallback: {resumed.summary['fallbacks'][0]}"]
    assert len(resumed.summary["fallbacks"]) == 1 and resumed.summary["fallbacks"][0].startswith(fallback)
    assert json.loads((interrupted / "summary.json").read_text())["fallbacks"] == resumed.summary["fallbacks"]
    for name, values in whole.outcome.to_arrays().items():
        np.testing.assert_array_equal(getattr(resumed.outcome, name), values, err_msg=name)
    with pytest.raises(CircuitkitError, match="programming campaign with another config"):
        run_program_campaign(dataclasses.replace(config, seed=5), interrupted, log=None)
    # the rate spread's split rides on the card: a card with another split does not resume
    model = PulseModel.from_card(cards[0])
    other = dataclasses.replace(model, sigma_ln_rate_pulse=tuple(0.5 * s for s in model.sigma_ln_rate_per_pulse))
    with pytest.raises(CircuitkitError, match="programming campaign with another pulse_card"):
        run_program_campaign(config, interrupted, pulse_card=cards[0].with_values(pulse_model=other.to_dict()),
                             log=None)


def test_each_cells_rate_scale_on_the_deck_is_its_own_across_pulse_steps(quiet_model, monkeypatch):
    """All of the rate spread per cell (sigma ln 1 per cell, 0 per pulse): every pulse step's
    deck carries each cell's own rate_scale, the same at every step, and cells differ."""
    from circuitkit.program import verify

    decks = []
    simulate = verify._simulate

    def recording(fields, *args):
        decks.append(np.array(fields["rate_scale"], dtype=float))
        return simulate(fields, *args)

    monkeypatch.setattr(verify, "_simulate", recording)
    cell_only = dataclasses.replace(quiet_model, sigma_ln_rate=(1.0, 1.0), sigma_ln_rate_pulse=(0.0, 0.0))
    ladder = VerifyScheme(WEAK_SET, 1e3, max_pulses=3, step_v_wl=0.0)  # out of reach: every cell takes 3 steps
    outcome = program_and_verify(cell_only, ladder, np.array([86e3, 86e3, 86e3]), np.random.default_rng(1))
    assert len(decks) == 3 and np.all(outcome.pulses == 3)
    np.testing.assert_array_equal(decks[0], decks[1])
    np.testing.assert_array_equal(decks[0], decks[2])
    assert np.unique(decks[0]).size == 3


def test_a_given_card_is_used_and_only_a_missing_one_is_loaded(cards, monkeypatch):
    from circuitkit.device.model import ModelCard
    from circuitkit.mlc.campaign import cards_or_bundled

    loaded: list[str] = []
    load = ModelCard.load
    monkeypatch.setattr(ModelCard, "load", staticmethod(lambda path: loaded.append(str(path)) or load(path)))
    messages: list[str] = []
    assert cards_or_bundled(*cards, log=messages.append) == (*cards, ())
    assert loaded == [] and messages == []
    pulse, start, fallbacks = cards_or_bundled(cards[0], None, log=messages.append)
    assert pulse is cards[0] and start.to_json() == cards[1].to_json()
    assert len(loaded) == 1 and loaded[0].endswith("distribution/model_card.json")
    assert messages == [f"fallback: {fallbacks[0]}"] and fallbacks[0].startswith("start distribution: none given")


def test_a_deck_ngspice_cannot_integrate_is_retried_with_a_fine_step(cards, tmp_path):
    """A cell of a real campaign deck (rate_scale draw 2.2e7, the fitted sigma of 7): at
    ngspice's own step the transient stops at the pulse edge; the retry (gear, a quarter-edge
    step) carries it, and the failing deck stays on disk."""
    from circuitkit.netlist.programming import ProgrammingBench
    from circuitkit.program.verify import _simulate
    from circuitkit.spice.runner import SimulationError

    fields = dict(pulses=(ProgrammingPulse("set", 1.2, 2.0, 1e-6),), gap_before=[9.128144102259788e-10],
                  rate_scale=[21963892.019464463], card=cards[0], check_switching=False)
    with pytest.raises(SimulationError, match="(?i)timestep too small"):
        ProgrammingBench(**fields).simulate()
    logs = []
    result = _simulate(fields, tmp_path, "deck", logs.append)
    assert "retrying" in logs[0] and (tmp_path / "deck.cir").exists() and (tmp_path / "deck_safer.cir").exists()
    assert result.switched.all() and result.r_read[0, 0] < 20e3


def test_the_pulse_ladder_grows_as_set():
    scheme = VerifyScheme(WEAK_SET, 20e3, max_pulses=4, step_v_wl=0.1, step_amplitude=0.2, width_factor=2.0)
    third = scheme.pulse(2)
    assert (third.v_wl, third.amplitude, third.width) == pytest.approx((1.2, 2.4, 4e-6))
    assert VerifyScheme(WEAK_SET, 20e3, verify=False).budget == 1
    with pytest.raises(CircuitkitError, match="pulses grow"):
        VerifyScheme(WEAK_SET, 20e3, width_factor=0.5)
    reset = VerifyScheme(ProgrammingPulse("reset", 3.3, 3.0, 1e-6), 50e3)
    assert list(reset.passes(np.array([40e3, 60e3]))) == [False, True]
