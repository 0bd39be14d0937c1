"""The integrate-and-fire neuron in ngspice: rate vs synaptic current, negative spikes,
refractory period, period against C * v_th / I."""

from __future__ import annotations

import numpy as np
import pytest

from circuitkit.netlist import NeuronParams, if_neuron

pytestmark = pytest.mark.spice

PARAMS = NeuronParams()


def run(r_positive, r_negative=None, params=PARAMS, t_stop=2e-6):
    return if_neuron(r_positive, r_negative, params=params, t_stop=t_stop).simulate()


@pytest.fixture(scope="module")
def sweep() -> dict:
    """A decade of synaptic currents: cells of 10 k to 100 k read at 0.1 V."""
    return {r: run(r, t_stop=2.2e-6) for r in (10e3, 20e3, 50e3, 100e3)}


def test_rate_rises_with_current_and_period_matches_c_vth_over_i(sweep):
    currents, rates = [], []
    for resistance, spikes in sweep.items():
        rate = 1 / spikes.period_s
        ideal = PARAMS.c_mem * PARAMS.v_th / spikes.current_a
        print(f"R {resistance / 1e3:5.0f} k: I {spikes.current_a * 1e9:6.1f} nA, {len(spikes.positive_s):2d} spikes, "
              f"period {spikes.period_s * 1e9:6.1f} ns; C*Vth/I {ideal * 1e9:6.1f} ns, "
              f"+ spike {spikes.spike_width_s * 1e9:.1f} ns = {spikes.expected_period_s * 1e9:6.1f} ns "
              f"({(spikes.period_s / spikes.expected_period_s - 1) * 100:+.1f} %); "
              f"read node {spikes.read_voltage_v * 1e3:.1f} mV")
        assert not spikes.negative_s
        assert spikes.read_voltage_v <= 0.1 + 1e-3  # the cell never sees more than 100 mV
        assert spikes.period_s == pytest.approx(spikes.expected_period_s, rel=0.2)
        currents.append(spikes.current_a)
        rates.append(rate)
    assert max(currents) / min(currents) > 8  # about a decade
    order = np.argsort(currents)
    assert np.all(np.diff(np.asarray(rates)[order]) > 0)


def test_negative_input_gives_negative_spikes():
    spikes = run(None, 20e3, t_stop=1e-6)
    print(f"negative synapse: I {spikes.current_a * 1e9:.1f} nA, {len(spikes.negative_s)} negative spikes, "
          f"period {spikes.period_s * 1e9:.1f} ns (expected {spikes.expected_period_s * 1e9:.1f} ns)")
    assert spikes.current_a < 0 and not spikes.positive_s and len(spikes.negative_s) >= 3
    assert spikes.period_s == pytest.approx(spikes.expected_period_s, rel=0.2)
    # balanced synapses cancel; a stronger negative one wins
    mixed = run(30e3, 15e3, t_stop=1e-6)
    assert not mixed.positive_s and mixed.negative_s


def test_no_spike_during_the_refractory_period_while_the_membrane_keeps_integrating():
    params = NeuronParams(t_refractory=150e-9)
    spikes = run(10e3, params=params, t_stop=1e-6)
    integrate = params.c_mem * params.v_th / spikes.current_a
    intervals = np.diff(spikes.positive_s)
    print(f"C*Vth/I {integrate * 1e9:.1f} ns < refractory {params.t_refractory * 1e9:.0f} ns; spike intervals "
          f"{', '.join(f'{t * 1e9:.1f}' for t in intervals)} ns; membrane at spikes "
          f"{', '.join(f'{v:.2f}' for v in spikes.membrane_at_spikes_v)} V")
    assert integrate < 0.6 * params.t_refractory  # without the refractory period it would fire twice as often
    windows = spikes.refractory_windows
    assert len(windows) == len(spikes.positive_s)
    for (start, end), spike in zip(windows[:-1], spikes.positive_s[1:]):
        assert end - start > 0.9 * params.t_refractory
        assert spike >= end, f"spike at {spike * 1e9:.1f} ns inside the refractory window ending {end * 1e9:.1f} ns"
    assert np.all(intervals > params.t_refractory)
    # the membrane went on integrating: it is far above threshold when the period ends
    threshold = params.v_rest + params.v_th
    assert all(v > threshold + 0.1 for v in spikes.membrane_at_spikes_v[1:-1])
