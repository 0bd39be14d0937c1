"""SNN weights, datasets, the characterization table and `circuitkit snn` end to end."""

import csv
import gzip
import json

import numpy as np
import pytest

from circuitkit.cli import main
from circuitkit.inject.data import DatasetError, downscale
from circuitkit.snn.table import CharacterizationTable, TableError, bundled_table_path, load_table
from circuitkit.snn.train import (
    WeightError,
    load_snn_dataset,
    predict,
    read_weights,
    train_snn_weights,
    write_weights,
)


def write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def fake_mnist(directory, n_train=200, n_test=20, seed=0):
    """Tiny MNIST-shaped IDX files: class c lights a bar at rows 4+2c, 5+2c on a noisy background."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 4 + 2 * label:6 + 2 * label, 4:24] = 255
        write_idx(directory / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte.gz", labels)
    return directory


def test_downscale_is_an_area_average():
    np.testing.assert_allclose(downscale(np.arange(16.0).reshape(1, 16), 2), [[2.5, 4.5, 10.5, 12.5]])
    images = np.random.default_rng(0).uniform(size=(5, 784))
    small = downscale(images, 12)
    assert small.shape == (5, 144)
    np.testing.assert_allclose(small.mean(axis=1), images.mean(axis=1))  # area-weighted: the mean is kept
    np.testing.assert_allclose(downscale(np.ones((1, 784)), 12), 1.0)
    with pytest.raises(DatasetError, match="not a square image"):
        downscale(np.ones((2, 10)), 3)


def test_training_gives_in_range_weights_and_a_working_network():
    digits = load_snn_dataset("digits")
    trained = train_snn_weights(digits)
    assert trained.weights.dtype == np.int8 and trained.weights.shape == (64, 10)
    assert trained.weights.min() >= -4 and trained.weights.max() <= 4
    assert np.all(np.isin(np.arange(-4, 5), trained.weights))  # every level is used
    assert trained.float_accuracy > 0.9 and trained.accuracy > 0.9
    again = train_snn_weights(digits)
    np.testing.assert_array_equal(again.weights, trained.weights)


def test_mnist_directory_is_downscaled_to_144_inputs(tmp_path):
    dataset = load_snn_dataset(fake_mnist(tmp_path / "mnist"))
    assert dataset.x_train.shape == (200, 144) and dataset.x_test.shape == (20, 144)
    trained = train_snn_weights(dataset)
    assert trained.weights.shape == (144, 10) and trained.accuracy >= 0.9


def test_empty_dataset_is_refused(tmp_path):
    directory = fake_mnist(tmp_path / "empty", n_test=0)
    with pytest.raises(DatasetError, match="the test split holds no images"):
        load_snn_dataset(directory)
    with pytest.raises(DatasetError, match="not a directory"):
        load_snn_dataset(tmp_path / "missing")


def test_weight_files_round_trip_and_name_bad_cells(tmp_path):
    weights = np.array([[4, -4, 0], [1, 2, -3]], dtype=np.int8)
    path = write_weights(weights, tmp_path / "w.csv")
    np.testing.assert_array_equal(read_weights(path), weights)
    bad = tmp_path / "bad.csv"
    bad.write_text("w0,w1\n1,2\n3,5\n")
    with pytest.raises(WeightError, match=r"bad.csv, line 3, column 2: weight 5 is outside -4..\+4"):
        read_weights(bad)
    bad.write_text("1,2\n3,x\n")
    with pytest.raises(WeightError, match="line 2, column 2: expected an integer"):
        read_weights(bad)
    bad.write_text("1,2\n3\n")
    with pytest.raises(WeightError, match="line 2: 1 columns, expected 2"):
        read_weights(bad)
    bad.write_text("")
    with pytest.raises(WeightError, match="no weights"):
        read_weights(bad)


def test_table_round_trip_and_errors(tmp_path):
    table = load_table()
    copy = CharacterizationTable.read(table.write(tmp_path / "t.json"))
    assert copy.to_dict() == table.to_dict()
    with pytest.raises(TableError, match="characterized at corner 'tt', but corner 'ss' was asked"):
        load_table(tmp_path / "t.json", corner="ss")
    data = table.to_dict()
    del data["neuron"]["refractory_s"]
    (tmp_path / "missing.json").write_text(json.dumps(data))
    with pytest.raises(TableError, match="missing key\\(s\\) neuron.refractory_s"):
        CharacterizationTable.read(tmp_path / "missing.json")
    data = table.to_dict()
    data["synapse"]["v_read_v"] = 0.3
    (tmp_path / "read.json").write_text(json.dumps(data))
    with pytest.raises(TableError, match="at most 0.1 V"):
        CharacterizationTable.read(tmp_path / "read.json")
    data = table.to_dict()
    data["synapse"]["hrs_current_neg_a"] = 1.0
    (tmp_path / "hrs.json").write_text(json.dumps(data))
    with pytest.raises(TableError, match="hrs_current_neg_a .* must be below lrs_current_neg_a"):
        CharacterizationTable.read(tmp_path / "hrs.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(TableError, match="not valid JSON \\(line 1"):
        CharacterizationTable.read(tmp_path / "junk.json")
    with pytest.raises(TableError, match="HRS/LRS ratio must be"):
        table.with_on_off_ratio(1.0)


def test_bundled_tables_carry_their_corner_and_toolchain():
    for corner in ("tt", "ss", "ff", "sf", "fs"):
        table = CharacterizationTable.read(bundled_table_path(corner))
        assert table.corner == corner
        assert "ngspice" in table.provenance["toolchain"]
        assert table.provenance["command"].endswith(f"--corner {corner} -o circuitkit/snn/data/characterization_{corner}.json")
    with pytest.raises(TableError, match="no bundled characterization table for corner 'xx'"):
        load_table(corner="xx")


def test_the_default_dataset_is_12x12_mnist():
    dataset = load_snn_dataset()
    assert dataset.name == "mnist5k-12x12" and dataset.image_shape == (12, 12)
    assert dataset.x_train.shape == (4000, 144) and dataset.x_test.shape == (1000, 144)
    # The default coding's 7 spikes per full pixel give about the reference's 136 spikes.
    assert 125 < 7 * dataset.x_test.sum(axis=1).mean() < 145


@pytest.fixture(scope="module")
def snn_run(tmp_path_factory):
    # The default: 12x12 MNIST, both input codings, the bundled tt table (128 Monte Carlo
    # samples of the neuron threshold), stuck cells from the dataset default.
    out = tmp_path_factory.mktemp("snn")
    assert main(["snn", "--trials", "3", "-o", str(out)]) == 0
    return out


def _rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_snn_command_writes_accuracy_for_both_codings_and_the_spirit_comparison(snn_run):
    for name in ("snn_accuracy.csv", "snn_summary.json", "snn_leakage.csv", "snn_energy.json", "snn_raster.png",
                 "snn_accuracy_vs_leakage.png", "snn_neuron_transfer.png", "snn_weights.csv",
                 "snn_characterization.json"):
        assert (snn_run / name).stat().st_size > 0, name
    rows = {(row["coding"], row["case"]): row for row in _rows(snn_run / "snn_accuracy.csv")}
    cases = ("snn_ideal", "snn_spread", "snn_spread_stuck", "snn_spread_stuck_upper")
    assert list(rows) == [("none", "quantized"), *[(c, k) for c in ("poisson", "regular") for k in cases]]
    for row in rows.values():
        assert float(row["ci_low"]) <= float(row["accuracy_mean"]) <= float(row["ci_high"])
    assert rows["none", "quantized"]["samples"] == "1000" and rows["poisson", "snn_ideal"]["samples"] == "3"
    quantized = float(rows["none", "quantized"]["accuracy_mean"])
    assert 0.85 < quantized < 0.93  # the exact -4..+4 network: SPIRIT's ideal simulation gave 88 %
    # Evenly spaced input spikes carry the rate with less noise than random ones: the
    # coding moves the accuracy by points, strictly beyond the chip-to-chip intervals.
    for case in cases:
        assert float(rows["regular", case]["ci_low"]) > float(rows["poisson", case]["ci_high"]), case
    summary = json.loads((snn_run / "snn_summary.json").read_text())
    spread = summary["threshold_spread"]
    assert spread["samples"] >= 100 and spread["enough_samples"]
    assert spread["low"] < spread["sigma_rel"] < spread["high"] and spread["high"] / spread["low"] < 1.4
    assert summary["stuck_cells"]["source"].startswith("dataset default, not your data")
    assert summary["reference"]["accuracy_measured"] == 0.84 and summary["reference"]["accuracy_ideal_topology"] == 0.88
    leakage = _rows(snn_run / "snn_leakage.csv")
    ratios = [float(row["hrs_lrs_ratio"]) for row in leakage]
    assert ratios == sorted(ratios, reverse=True) and ratios[-1] == 1.5
    assert float(leakage[0]["accuracy_mean"]) > float(leakage[-1]["accuracy_mean"])


def test_energy_keeps_chosen_inputs_apart_from_results(snn_run):
    energy = json.loads((snn_run / "snn_energy.json").read_text())
    inputs, results = energy["inputs"], energy["results"]
    # The spikes per image follow from --max-spikes: an input, reported, never compared.
    assert "set_by" in inputs["input_spikes_per_image"] and inputs["presentation_window_s"] == 10e-6
    assert set(energy["ratio_to_reference"]) == {"energy_per_synaptic_event_dynamic", "energy_per_synaptic_event_total"}
    per_event = results["energy_per_synaptic_event_j"]
    assert per_event["dynamic_read_and_integration"] < per_event["total"]
    assert 0 < results["static_share"] < 1 and "presentation_window_s" in per_event["total_depends_on"]
    parts = results["energy_per_image_j"]
    assert parts["total"] == pytest.approx(parts["synapse_reads"] + parts["neuron_static"] + parts["output_spikes"])
    assert results["synaptic_events_per_image"] == pytest.approx(inputs["input_spikes_per_image"]["mean"] * 10)


def test_only_the_total_energy_moves_with_the_chosen_window():
    from circuitkit.snn.evaluate import energy_summary
    from circuitkit.snn.simulate import RateCoding, run_case

    digits = load_snn_dataset("digits")
    weights = train_snn_weights(digits).weights
    table = load_table()
    x = digits.x_test[:40]
    summaries = []
    for window in (10e-6, 20e-6):
        coding = RateCoding("regular", 7.0, window)
        run = run_case(weights, table, x, chips=2, coding=coding)
        summaries.append(energy_summary(weights, table, x, run, coding)["results"]["energy_per_synaptic_event_j"])
    assert summaries[0]["dynamic_read_and_integration"] == pytest.approx(summaries[1]["dynamic_read_and_integration"])
    assert summaries[1]["total"] > 1.3 * summaries[0]["total"]


def test_snn_command_uses_given_weights_and_refuses_bad_input(tmp_path, capsys, snn_run):
    weights = read_weights(snn_run / "snn_weights.csv")
    mnist = load_snn_dataset()
    assert np.mean(predict(mnist.x_test, weights) == mnist.y_test) > 0.85
    bad = tmp_path / "bad.csv"
    rows = weights.astype(int).tolist()
    rows[3][7] = -6
    bad.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    assert main(["snn", "--weights", str(bad), "-o", str(tmp_path / "o1")]) == 2
    assert "bad.csv, line 4, column 8: weight -6 is outside -4..+4" in capsys.readouterr().err
    short = tmp_path / "short.csv"
    write_weights(weights[:10], short)
    assert main(["snn", "--weights", str(short), "-o", str(tmp_path / "o2")]) == 2
    assert "10 rows x 10 columns, expected 144 x 10" in capsys.readouterr().err
    table = tmp_path / "tt.json"
    load_table().write(table)
    assert main(["snn", "--table", str(table), "--corner", "ff", "-o", str(tmp_path / "o3")]) == 2
    assert "characterized at corner 'tt', but corner 'ff' was asked" in capsys.readouterr().err
    empty = fake_mnist(tmp_path / "empty", n_test=0)
    assert main(["snn", "--dataset", str(empty), "-o", str(tmp_path / "o4")]) == 2
    assert "holds no images (empty dataset)" in capsys.readouterr().err
    assert main(["snn", "--ratios", "4,0.5", "-o", str(tmp_path / "o5")]) == 2
    assert "--ratios must all be > 1" in capsys.readouterr().err


def test_a_ber_table_without_the_exact_condition_is_refused(tmp_path, capsys):
    # Same corner, other supply: refused, never silently replaced by another condition.
    from circuitkit.ber_table import BerTable, Condition

    counts = {Condition("tt", 1.2, 27.0, "binary"): np.array([[99, 1], [2, 98]])}
    path = BerTable.from_counts(counts).write(tmp_path / "ber.csv")
    assert main(["snn", "--dataset", "digits", "--trials", "2", "--ber-table", str(path), "-o", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert "expected one binary condition at exactly the characterization's tt vdd=1.8 V T=27 C and found 0" in error
    assert "the table has: tt vdd=1.2 V T=27 C binary" in error
    counts[Condition("tt", 1.8, 27.0, "binary")] = np.array([[90, 10], [10, 90]])
    path = BerTable.from_counts(counts).write(tmp_path / "ber2.csv")
    out = tmp_path / "ok"
    assert main(["snn", "--dataset", "digits", "--coding", "regular", "--trials", "2", "--ratios", "2",
                 "--ber-table", str(path), "-o", str(out)]) == 0
    rows = {row["case"]: row for row in _rows(out / "snn_accuracy.csv")}
    assert "tt vdd=1.8 V T=27 C binary, flip rate 0.1" in rows["snn_spread_cell_flips"]["description"]
