"""bench/figures/ holds results: the README's figure must be what `python bench/figures.py`
makes with today's code, data and toolchain. The full regeneration runs the demo (about
5 min); this test checks the figure against its recorded data and reproduces a subset of
that data within seconds (BER and accuracy of one campaign condition, two points of each
tolerance curve)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from circuitkit.ber_table import Condition
from circuitkit.corners.campaign import CampaignConfig, run_campaign
from circuitkit.corners.reads import PcsaReadSimulator
from circuitkit.device.model import ModelCard
from circuitkit.files import file_hash
from circuitkit.flow import FlowConfig, demo_flow
from circuitkit.inject.accuracy import condition_seed, trial_accuracies
from circuitkit.inject.data import load_dataset
from circuitkit.inject.networks import load_network
from circuitkit.stats import mean_interval
from circuitkit.toolchain import toolchain

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.spice, pytest.mark.slow]

REGENERATE = "bench/figures/ is stale: regenerate it with `.venv/bin/python bench/figures.py`"


def _figures_module():
    spec = importlib.util.spec_from_file_location("bench_figures", REPO_ROOT / "bench" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = _figures_module()


@pytest.fixture(scope="module")
def data() -> dict:
    return json.loads(figures.FIGURE_DATA.read_text())


def test_the_figure_is_drawn_from_its_recorded_data(data):
    with Image.open(figures.FIGURE) as image:
        recorded = image.text.get(figures.DATA_KEY)
    assert recorded == hashlib.sha256(figures.FIGURE_DATA.read_bytes()).hexdigest(), REGENERATE
    assert set(data["points"]) == {"BNN, binary table (mc)", "BNN, binary table (offset)", "TNN, ternary table (mc)"}


def test_the_recorded_data_comes_from_todays_demo_inputs_and_toolchain(data):
    provenance = data["provenance"]
    demo = demo_flow(REPO_ROOT / "out" / "demo")
    assert provenance["demo_settings"] == figures.demo_settings(demo), REGENERATE
    assert provenance["inputs_sha256"] == {figures.repository_path(p): file_hash(p)
                                           for p in figures.input_files(demo)}, REGENERATE
    assert provenance["toolchain_fingerprint"] == toolchain().fingerprint(), REGENERATE


def test_todays_code_reproduces_the_tolerance_curves(data):
    """Two points of each network's tolerance curve (the demo's tolerance stage: its BER grid,
    trials and seeds by value), on the plateau and past the knee."""
    from circuitkit.ber_table import BerTable
    from circuitkit.seeding import value_seed

    config: FlowConfig = demo_flow(REPO_ROOT / "out" / "demo")
    tolerance = config.tolerance()
    dataset = load_dataset(config.network.dataset)
    grid = tolerance.grid()
    for name in ("BNN", "TNN"):
        network = load_network(name.lower())
        assert [float(row["ber"]) for row in data["curves"][name]] == [float(f"{b:.12g}") for b in grid], REGENERATE
        for index in (5, len(grid) - 2):
            ber = float(grid[index])
            transition = BerTable.symmetric(ber, network.scheme).transition_matrix(
                BerTable.symmetric(ber, network.scheme).conditions()[0])
            accuracies = trial_accuracies(network, dataset.x_test, dataset.y_test, transition, tolerance.trials,
                                          value_seed(tolerance.seed, "symmetric", network.scheme, ber))
            recorded = data["curves"][name][index]
            assert float(recorded["accuracy_mean"]) == pytest.approx(float(np.mean(accuracies)), abs=1e-12), REGENERATE


def test_todays_code_reproduces_a_campaign_point(data, tmp_path):
    """The demo's ternary campaign at tt, 0.9 V (it sees errors, so its counts depend on
    every cell drawn and every read simulated; common random numbers: a campaign of that
    one condition draws the same cells), then the TNN's accuracy at the BER's estimate and
    at its upper bound with the seeds the flow used."""
    provenance = data["provenance"]
    card_path = tmp_path / "model_card.json"
    card_path.write_text(json.dumps(provenance["model_card"]))
    card = ModelCard.load(card_path)
    demo_config = CampaignConfig.from_dict(provenance["campaign_settings"]["ber_ternary"])
    condition = Condition("tt", 0.9, 27.0, "ternary")
    config = dataclasses.replace(demo_config, corners=(condition.corner,), vdd=(condition.vdd,))
    table = run_campaign(config, tmp_path / "campaign", simulator=PcsaReadSimulator(), workers=2, card=card,
                         progress=False).table
    [rate] = table.error_rates()
    rows = data["points"]["TNN, ternary table (mc)"]
    recorded = next(row for row in rows if (row["corner"], float(row["vdd"])) == ("tt", 0.9))
    print(f"tt 0.9 V ternary: BER {rate.ber:.4f} [{rate.ci_low:.4f}, {rate.ci_high:.4f}] "
          f"(recorded {float(recorded['ber']):.4f})")
    assert rate.ber > 0
    assert [float(recorded[key]) for key in ("ber", "ber_ci_low", "ber_ci_high")] == \
        [rate.ber, rate.ci_low, rate.ci_high], REGENERATE
    demo = demo_flow(REPO_ROOT / "out" / "demo")
    network, dataset = load_network(demo.network.tnn), load_dataset(demo.network.dataset)
    for bound, key in (("estimate", "accuracy_mean"), ("ci_high", "accuracy_mean_at_ber_ci_high")):
        accuracies = trial_accuracies(network, dataset.x_test, dataset.y_test, table.transition_matrix(condition, bound),
                                      demo.network.trials, condition_seed(demo.seed, condition))
        print(f"  BER {bound}: TNN accuracy {np.mean(accuracies):.4f} (recorded {float(recorded[key]):.4f})")
        assert float(recorded[key]) == pytest.approx(mean_interval(accuracies).mean, abs=1e-12), REGENERATE
