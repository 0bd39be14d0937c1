"""Learning with the analog hardware in the loop: the software CNN, hybrid training on
multi-level crossbars, STELLAR on the fitted device response (real MNIST)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from circuitkit.inject.data import load_mnist5k
from circuitkit.learn.cnn import Cnn, CnnConfig, class_interleaved, load_bundled, train_cnn
from circuitkit.stats import binomial_interval, mean_interval


@pytest.fixture(scope="module")
def mnist():
    return load_mnist5k()


def test_image_subsets_are_balanced_over_the_classes(mnist):
    """The bundled split stores its images sorted by class: a subset of n images must hold
    n / 10 of each digit, or a quick run trains and tests on the first few digits only."""
    assert np.all(np.bincount(mnist.y_train[class_interleaved(mnist.y_train, 50)], minlength=10) == 5)
    assert np.all(np.bincount(mnist.y_test[class_interleaved(mnist.y_test, 400)], minlength=10) == 40)
    every = class_interleaved(mnist.y_train)
    assert np.array_equal(np.sort(every), np.arange(mnist.y_train.size))


def test_cnn_gradients_match_finite_differences(mnist):
    network = Cnn.initial(CnnConfig(), np.random.default_rng(0))
    x, y = mnist.x_train[:6], mnist.y_train[:6]
    _, grads = network.gradients(x, y)
    rng = np.random.default_rng(1)
    for index in range(3):
        for _ in range(4):
            where = tuple(int(rng.integers(0, n)) for n in network.matrices[index].shape)
            original = network.matrices[index][where]
            losses = []
            for delta in (1e-5, -1e-5):
                network.matrices[index][where] = original + delta
                losses.append(network.gradients(x, y)[0])
            network.matrices[index][where] = original
            assert grads[index][where] == pytest.approx((losses[0] - losses[1]) / 2e-5, rel=1e-4, abs=1e-9)


def test_the_bundled_cnn_has_its_documented_accuracy(mnist):
    network = load_bundled()
    assert network.metadata["command"] == "python -m circuitkit.learn.cnn --bundled"
    accuracy = network.accuracy(mnist.x_test, mnist.y_test)
    assert accuracy == network.metadata["test_accuracy"] and accuracy > 0.95
    assert sum(m.size for m in network.matrices) == 3966


@pytest.mark.slow
def test_the_bundled_cnn_is_reproduced_by_its_command(mnist):
    retrained = train_cnn(mnist, CnnConfig())
    assert all(np.array_equal(a, b) for a, b in zip(retrained.matrices, load_bundled().matrices))


@pytest.mark.spice
@pytest.mark.slow
def test_hybrid_retraining_recovers_accuracy_lost_in_transfer(tmp_path):
    """32-level chips, 4 of them (write-verify, wires, read noise, ADC): transfer loses accuracy
    (all chips' test images pooled, Clopper-Pearson: below the software network) and
    retraining the last layer in situ (each rewritten cell keeping its own rate offset: with
    it redrawn, a new device per rewrite, the gain was +1.7 [-9.3, 12.7]) wins it back,
    strictly: the mean gain over chips
    has a Student-t interval above zero and the pooled accuracies' intervals are disjoint.
    Run through the command line, which writes the CSV/JSON/PNG."""
    from circuitkit.cli import main

    assert main(["learn", "hybrid", "--levels", "32", "--chips", "4", "--epochs", "1", "--train-images", "600",
                 "--test-images", "250", "-o", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "hybrid.json").read_text())
    chips = result["chips"]
    n = result["software"]["test_images"]
    pooled = {key: binomial_interval(int(round(sum(c[key] for c in chips) * n)), n * len(chips))
              for key in ("after_transfer", "after_retraining")}
    software = binomial_interval(int(round(result["software"]["accuracy"] * n)), n)
    assert pooled["after_transfer"].high < software.low
    assert pooled["after_transfer"].high < pooled["after_retraining"].low
    gain = mean_interval([c["after_retraining"] - c["after_transfer"] for c in chips])
    assert gain.low > 0, gain
    assert all(c["cells_rewritten"] > 0 for c in chips)
    for name in ("hybrid.csv", "hybrid_chips.csv", "hybrid.png"):
        assert (tmp_path / name).exists()


@pytest.fixture(scope="module")
def device():
    from circuitkit.device.pulse import PulseModel
    from circuitkit.learn.stellar import PulseResponse
    from circuitkit.mlc.campaign import default_cards

    from circuitkit.mlc.engine import with_measured_read_noise

    pulse_card, start_card = default_cards()
    model = with_measured_read_noise(PulseModel.from_card(pulse_card))[0]
    return model, start_card, PulseResponse.from_model(model)


@pytest.mark.spice
def test_the_pulse_response_is_the_fitted_models_and_its_knobs_act(device):
    """A tabulated step equals the engine's own draws at that state (two-sample KS), the
    asymmetry knob scales the RESET/SET step ratio, and the nonlinearity knob shrinks
    steps near the bound a pulse drives to."""
    from scipy import stats

    from circuitkit.mlc.engine import ProgrammingEngine, PulseMenu

    model, _, response = device
    k = response.ln_g.size // 2
    g = np.exp(response.ln_g[k])
    pulse = response.pulses[1]
    menu = PulseMenu.of([pulse.triple()])
    after, _ = ProgrammingEngine(model, menu).apply(np.full(4000, 1 / g), np.zeros(4000, int), pulse.width,
                                                    np.random.default_rng(9))
    direct = np.log(1 / after / g)
    assert stats.ks_2samp(direct, response.steps[1][k].ravel()).pvalue > 0.01  # pooled over the cell classes
    native = response.asymmetry()
    assert response.deformed(reset_scale=4.0).asymmetry() == pytest.approx(4 * native, rel=0.1)
    low, high = response.bounds
    near_top = np.full(4000, np.exp(high - 0.1 * (high - low)))
    rng = np.random.default_rng(2)
    own = np.abs(np.log(response.apply(near_top, np.ones(4000), rng)[0] / near_top)).mean()
    bent = np.abs(np.log(response.deformed(nonlinearity=2.0).apply(near_top, np.ones(4000), rng)[0] / near_top)).mean()
    assert bent < 0.1 * own


@pytest.mark.spice
def test_stellar_pulses_are_the_cards_weakest_that_move_a_device_by_the_median_step(device):
    """The default pulses come from the card: drawn from the pulse model at the middle of
    the device's range, each moves a device by a median >= MEDIAN_STEP in ln G in its
    direction; the same pulse 0.1 V lower on the word line (less compliance) does not."""
    from circuitkit.device.pulse import PulseCondition
    from circuitkit.learn.stellar import MEDIAN_STEP, weakest_pulses
    from circuitkit.mlc.engine import ProgrammingEngine, PulseMenu

    model, _, response = device
    assert (response.pulses[1], response.pulses[-1]) == weakest_pulses(model)
    assert "weakest" in response.describe()["pulse_choice"]
    r_middle = float(np.sqrt(model.resistance(model.card.value("gmin")) * model.resistance(model.card.value("gmax"))))
    for polarity, pulse in response.pulses.items():
        menu = PulseMenu.of([pulse.triple()])
        after, _ = ProgrammingEngine(model, menu).apply(np.full(4000, r_middle), np.zeros(4000, int), pulse.width,
                                                        np.random.default_rng(3))
        step = polarity * np.log(r_middle / after)  # + towards the pulse's direction
        assert np.median(step) >= 0.9 * MEDIAN_STEP, (polarity, np.median(step))
        weaker = model.deterministic_after(np.array([r_middle]), PulseCondition(
            np.array([pulse.v_wl - 0.1]), np.array([pulse.v_bl]), np.array([pulse.v_sl]), np.array([pulse.width])))
        assert abs(np.log(r_middle / weaker[0])) < MEDIAN_STEP, polarity


@pytest.mark.spice
def test_stellar_learns_with_asymmetric_devices_where_plain_sign_updates_degrade_more(device, mnist):
    """RESET steps 4x the model's own (asymmetry ~6): the sign/threshold rule learns well
    above chance (its interval above 20 %, twice the 10 % of ten balanced classes: the
    training and test images are taken class by class), and beats plain sign-SGD on the same
    devices, image orders and device draws (paired differences over runs, Student-t
    interval above zero); both fall short of ideal-device SGD, sign-SGD by more.

    The bar was 40 % while the card redrew its whole rate spread every pulse (STELLAR 48 %).
    With the cycling log's split each device keeps its own SET rate offset (sigma ln 7 per
    cell): no identical pulse serves that population (of the sweeps' 252 SET pulses none
    moves more than 5 of 16 offset classes by a median 0.02-0.5 in ln G; the rest stay still
    or switch fully), and STELLAR reaches 32.5 % [22.3, 42.7] with the card's weakest pulse,
    33-35 % with the others tried (README, section 7): the issue's claim, well above chance
    where sign-SGD (13-16 %) degrades more, holds; the 40 % does not, and the README says so."""
    from circuitkit.learn.stellar import StellarConfig, train_layer

    model, start, response = device
    asymmetric = response.deformed(reset_scale=4.0)
    assert asymmetric.asymmetry() > 3
    base = dict(train_images=1500, test_images=400)
    runs = {rule: [train_layer(mnist, StellarConfig(rule=rule, seed=s, **base), asymmetric, model, start)
                   for s in range(5)] for rule in ("stellar", "sign")}
    ideal = train_layer(mnist, StellarConfig(rule="ideal", seed=0, **base), None, None)["accuracy"]
    stellar = mean_interval([r["accuracy"] for r in runs["stellar"]])
    sign = mean_interval([r["accuracy"] for r in runs["sign"]])
    assert stellar.low > 0.2, stellar
    difference = mean_interval([a["accuracy"] - b["accuracy"] for a, b in zip(runs["stellar"], runs["sign"])])
    assert difference.low > 0, difference
    assert ideal - sign.mean > ideal - stellar.mean > 0
    # the threshold is also what saves pulses
    assert np.mean([r["pulses_per_weight"] for r in runs["stellar"]]) < \
        0.2 * np.mean([r["pulses_per_weight"] for r in runs["sign"]])


@pytest.mark.spice
def test_learn_stellar_command_writes_its_table_and_figure(tmp_path):
    from circuitkit.cli import main

    assert main(["learn", "stellar", "--asymmetry", "1", "--nonlinearity", "0", "--runs", "2", "--train-images",
                 "300", "--test-images", "100", "-o", str(tmp_path)]) == 0
    rows = (tmp_path / "stellar.csv").read_text().splitlines()
    assert rows[0].startswith("rule,threshold,runs,accuracy") and len(rows) == 4
    assert (tmp_path / "stellar.png").exists() and json.loads((tmp_path / "stellar.json").read_text())["device"]


@pytest.mark.spice
def test_stellar_devices_keep_their_own_rate_offset_across_pulses(device):
    """With the card's split rate spread each device keeps its offset class: the same SET
    pulse from the same mid-range state, applied in two independent trials, moves each
    device by much the same step (correlation over 2,000 devices above 0.7); devices differ
    (the step's spread over devices is wide)."""
    from circuitkit.learn.stellar import DeviceLayer

    model, start, response = device
    assert response.cell_classes > 1 and "cycling log" in response.describe()["rate_split"]
    layer = DeviceLayer(200, 10, response, model, np.random.default_rng(0), start)
    middle = np.exp(0.5 * sum(response.bounds))
    steps = []
    for seed in (1, 2):
        layer.g[:] = middle
        layer.pulse(np.ones(layer.g.shape, dtype=np.int8), np.random.default_rng(seed))
        steps.append(np.log(layer.g.ravel() / middle))
    correlation = np.corrcoef(*steps)[0, 1]
    print(f"step correlation between trials {correlation:.3f}, spread over devices {np.std(steps[0]):.2f}")
    assert correlation > 0.7 and np.std(steps[0]) > 0.5
    # the artefact's per-class median steps are what the devices of each class do
    reported = np.asarray(response.describe()["median_step_by_cell_class"]["SET"])
    measured = [np.median(steps[0][layer.cell == c]) for c in range(response.cell_classes)]
    assert np.all(np.abs(np.subtract(measured, reported)) <= 0.05 + 0.1 * np.abs(reported)), (measured, reported)


@pytest.mark.spice
def test_learn_commands_take_your_cards_and_announce_the_bundled_ones(tmp_path, capsys):
    """`--pulse-card/--start-card` choose the devices; a card not given is the bundled one,
    announced on the console and recorded in the JSON; a card without the needed fit is
    refused, naming the option and the file."""
    import re

    from circuitkit.cli import main
    from circuitkit.resources import bundled_data

    args = ["learn", "stellar", "--asymmetry", "1", "--nonlinearity", "0", "--runs", "1", "--train-images", "200",
            "--test-images", "100"]
    assert main(args + ["-o", str(tmp_path / "bundled")]) == 0
    bundled = json.loads((tmp_path / "bundled" / "stellar.json").read_text())
    assert len(bundled["cards"]["fallbacks"]) == 2 and "fallback: pulse model" in capsys.readouterr().out
    pulse_path = bundled_data("fits/real_1t1r/pulse/model_card.json")
    # the same card given: nothing announced, the same numbers
    assert main(args + ["--pulse-card", str(pulse_path), "--start-card",
                        str(bundled_data("fits/real_1t1r/distribution/model_card.json")), "-o", str(tmp_path / "given")]) == 0
    given = json.loads((tmp_path / "given" / "stellar.json").read_text())
    assert given["cards"]["fallbacks"] == [] and "fallback" not in capsys.readouterr().out
    assert given["rows"] == bundled["rows"]
    # another device (switching 30x slower): other numbers
    card = json.loads(pulse_path.read_text())
    card["parameters"]["vel0"] /= 30
    (tmp_path / "slow.json").write_text(json.dumps(card))
    assert main(args + ["--pulse-card", str(tmp_path / "slow.json"), "-o", str(tmp_path / "slow")]) == 0
    slow = json.loads((tmp_path / "slow" / "stellar.json").read_text())
    assert slow["rows"] != bundled["rows"] and "slow.json" in slow["cards"]["pulse_card"]
    levels_card = bundled_data("fits/real_1t1r/levels/model_card.json")
    for option in ("--pulse-card", "--start-card"):
        assert main(args + [option, str(levels_card), "-o", str(tmp_path / "bad")]) != 0
        assert re.search(f"{option} .*levels/model_card.json: the card (carries no pulse model|has no fitted HRS)",
                         capsys.readouterr().err)
    assert not (tmp_path / "bad").exists()
