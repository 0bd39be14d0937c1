"""Statistical correctness, reproducibility and memory of the error-injection sampler."""

import tracemalloc

import numpy as np
import pytest
from scipy import stats as scipy_stats

from circuitkit.inject.sampler import ErrorInjector, InjectionError

TERNARY = (-1, 0, 1)
# A deliberately asymmetric pattern of misread probabilities (each row's errors sum to 1).
ERROR_SHARES = np.array([[0.0, 0.7, 0.3], [0.4, 0.0, 0.6], [0.2, 0.8, 0.0]])
# The tests use fixed seeds, so they are deterministic; the p-value floor only decides
# whether a (wrong) sampler would be caught. 1e-4 keeps a correct one well clear.
P_FLOOR = 1e-4


def ternary_matrix(ber: float) -> np.ndarray:
    matrix = ber * ERROR_SHARES
    np.fill_diagonal(matrix, 1.0 - ber)
    return matrix


def ternary_weights(per_value: int) -> np.ndarray:
    return np.random.default_rng(123).permutation(np.repeat(np.array(TERNARY, dtype=np.int8), per_value))


def transition_counts(injector: ErrorInjector, trials: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Transition counts summed over trials, and the per-trial error count per stored value."""
    from circuitkit.seeding import trial_generator

    clean = injector.clean.ravel()
    codes = np.searchsorted(TERNARY, clean)
    totals = np.zeros((3, 3), dtype=np.int64)
    per_trial = np.zeros((trials, 3), dtype=np.int64)
    for trial in range(trials):
        positions, values = injector.trial_errors(trial_generator(seed, trial))
        assert np.unique(positions).size == positions.size
        stored, read = codes[positions], np.searchsorted(TERNARY, values)
        assert np.all(stored != read)
        np.add.at(totals, (stored, read), 1)
        per_trial[trial] = np.bincount(stored, minlength=3)
    totals[np.arange(3), np.arange(3)] = np.array(injector.stored_counts()) * trials - totals.sum(axis=1)
    return totals, per_trial


# (ber, weights per stored value, trials): enough weight-trials for about 30+ expected
# events in the rarest transition (1e-6 * 0.2 * 1e8 = 20 for the rarest; the row test pools them).
CASES = [(1e-6, 200_000, 500), (1e-3, 20_000, 200), (0.3, 2_000, 200)]


@pytest.mark.parametrize("method", ["sparse", "dense"])
@pytest.mark.parametrize("ber, per_value, trials", CASES, ids=["ber1e-6", "ber1e-3", "ber0.3"])
def test_transition_counts_follow_the_matrix(ber, per_value, trials, method):
    matrix = ternary_matrix(ber)
    injector = ErrorInjector(ternary_weights(per_value), TERNARY, matrix, method=method)
    totals, per_trial = transition_counts(injector, trials, seed=7)
    n = per_value * trials
    for i in range(3):
        # Each transition's count is Binomial(n, P[i, j]).
        for j in range(3):
            if i != j:
                p_value = scipy_stats.binomtest(int(totals[i, j]), n, matrix[i, j]).pvalue
                assert p_value > P_FLOOR, f"stored {TERNARY[i]} -> read {TERNARY[j]}: {totals[i, j]} of {n}, p={p_value:.2g}"
        # The whole row is Multinomial(n, P[i]).
        chi2 = scipy_stats.chisquare(totals[i], n * matrix[i])
        assert chi2.pvalue > P_FLOOR, f"row {TERNARY[i]}: {totals[i]} vs {n * matrix[i]}"
        # The number of misreads per trial is Binomial(per_value, ber): check its spread
        # too (a sampler placing a fixed number of errors per trial has the right mean).
        errors = per_trial[:, i]
        variance_statistic = (trials - 1) * errors.var(ddof=1) / (per_value * ber * (1 - ber))
        tail = scipy_stats.chi2.cdf(variance_statistic, trials - 1)
        if errors.sum() > 5 * trials:  # only meaningful when trials see several errors
            assert P_FLOOR / 2 < tail < 1 - P_FLOOR / 2, f"per-trial error variance off: {errors.var(ddof=1)}"


@pytest.mark.parametrize("ber", [1e-3, 0.3])
def test_error_positions_are_uniform(ber):
    weights = ternary_weights(10_000)
    injector = ErrorInjector(weights, TERNARY, ternary_matrix(ber))
    hits = np.zeros(weights.size, dtype=np.int64)
    for _, chunk in injector.iter_chunks(200, seed=3, chunk_trials=50):
        hits += (chunk != weights).sum(axis=0)
    for i, value in enumerate(TERNARY):
        bins = np.array_split(hits[weights == value], 20)
        counts = np.array([b.sum() for b in bins])
        expected = np.array([b.size for b in bins]) * 200 * ber
        assert scipy_stats.chisquare(counts, expected * counts.sum() / expected.sum()).pvalue > P_FLOOR


def test_sparse_and_dense_draw_the_same_distribution():
    matrix = ternary_matrix(0.05)
    weights = ternary_weights(5_000)
    sparse, _ = transition_counts(ErrorInjector(weights, TERNARY, matrix, method="sparse"), 100, seed=11)
    dense, _ = transition_counts(ErrorInjector(weights, TERNARY, matrix, method="dense"), 100, seed=12)
    for i in range(3):
        off_diagonal = [j for j in range(3) if j != i]
        table = np.vstack([sparse[i], dense[i]])
        assert scipy_stats.chi2_contingency(table).pvalue > P_FLOOR
        assert sparse[i, off_diagonal].sum() > 0


def test_draws_do_not_depend_on_chunking_and_extend_consistently():
    injector = ErrorInjector(ternary_weights(1_000).reshape(30, 100), TERNARY, ternary_matrix(0.1))
    whole = injector.corrupted(10, seed=42)
    assert whole.shape == (10, 30, 100) and whole.dtype == np.int8
    chunks = [chunk for _, chunk in injector.iter_chunks(10, seed=42, chunk_trials=3)]
    assert [c.shape[0] for c in chunks] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), whole)
    np.testing.assert_array_equal(injector.corrupted(4, seed=42), whole[:4])
    np.testing.assert_array_equal(injector.corrupted(3, seed=42, first_trial=5), whole[5:8])
    assert not np.array_equal(injector.corrupted(10, seed=43), whole)
    assert not np.array_equal(whole[0], whole[1])
    np.testing.assert_array_equal(injector.clean, ternary_weights(1_000).reshape(30, 100))


def test_any_integer_valued_dtype_is_kept():
    weights = np.array([[1.0, -1.0], [-1.0, 1.0]])
    out = ErrorInjector(weights, (-1, 1), [[0, 1], [1, 0]]).corrupted(2, seed=0)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.broadcast_to(-weights, (2, 2, 2)))
    identity = ErrorInjector(np.array([5, 7, 5], dtype=np.int64), (5, 7), np.eye(2)).corrupted(3, seed=0)
    np.testing.assert_array_equal(identity, [[5, 7, 5]] * 3)


@pytest.mark.parametrize(
    "weights, alphabet, matrix, message",
    [
        (np.array([-1, 0, 1]), (-1, 1), np.eye(2), r"not in the table's alphabet \(-1, 1\): 0 \(1 weights\)"),
        (np.array([-1.0, 0.5]), (-1, 1), np.eye(2), r"0.5 \(1 weights\)"),
        (np.array([-1, 1]), (-1, 1), [[0.9, 0.2], [0, 1]], "row for stored -1 sums to 1.1"),
        (np.array([-1, 1]), (-1, 1), np.eye(3), "must be 2x2"),
        (np.array([-1, 1]), (1, -1), np.eye(2), "strictly increasing"),
        (np.array([-1, 1]), (-1, 1), [[1.5, -0.5], [0, 1]], "finite probabilities >= 0"),
    ],
    ids=["weight-outside-alphabet", "non-integer-weight", "row-sum", "shape", "alphabet-order", "negative"],
)
def test_bad_input_raises_clear_errors(weights, alphabet, matrix, message):
    with pytest.raises(InjectionError, match=message):
        ErrorInjector(weights, alphabet, matrix)


def test_unknown_method_is_rejected():
    with pytest.raises(InjectionError, match="unknown injection method"):
        ErrorInjector(np.array([1]), (-1, 1), np.eye(2), method="fast")


def test_ten_million_weights_hundred_trials_stream_in_bounded_memory():
    n_weights, trials = 10_000_000, 100
    weights = np.ones(n_weights, dtype=np.int8)
    weights[::2] = -1
    budget = 64 * 2**20
    all_copies = n_weights * trials  # bytes of 100 int8 copies
    tracemalloc.start()
    try:
        injector = ErrorInjector(weights, (-1, 1), [[1 - 1e-4, 1e-4], [1e-4, 1 - 1e-4]])
        flipped = 0
        seen = 0
        for start, chunk in injector.iter_chunks(trials, seed=0, max_bytes=budget):
            assert start == seen
            seen += chunk.shape[0]
            assert chunk.nbytes <= budget
            flipped += int(np.count_nonzero(chunk != weights))
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == trials
    assert flipped == pytest.approx(1e-4 * n_weights * trials, rel=0.05)
    # Positions index (4 B/weight), one chunk and its comparison temporaries; far from
    # the 1 GB that 100 copies would take.
    assert peak < all_copies / 4, f"peak {peak / 2**20:.0f} MiB"
