"""Event-driven, vectorized simulation of the single-layer SNN over a whole test set and
many chips at once.

The system (SPIRIT-style: Valentian et al., IEDM 2019): P inputs, n output IF neurons, one
synapse per (input, neuron) made of 4 "positive" and 4 "negative" single-level RRAM
cells; a weight +w has w positive cells in LRS, the rest of its 8 cells in HRS.

Input coding. Pixel intensity x in [0, 1] becomes a spike train over a presentation
window: `poisson` draws Poisson(x * max_spikes) spikes at uniform random times;
`regular` puts round(x * max_spikes) spikes evenly spaced over the window.

Synaptic event. An input spike reads its row: every neuron j receives, in one read
pulse t_read, the net charge
    q_ij = t_read * (sum of the 4 positive cells' currents - sum of the 4 negative cells' currents)
so the HRS leakage of "off" cells cancels between polarities only on average: with
device spread their currents differ and the difference adds up over the many
weight-0 synapses of an image.

Device nonidealities: one `device.nonideality.DeviceNonideality` (None: ideal cells).
Each cell's current is drawn per chip from the characterized lognormal LRS/HRS read
current (device to device, fixed on a chip; the table characterized the device's
programmed states, so the device's states must be the table's: `table.device()`); each
read adds Gaussian cycle-to-cycle noise of relative sigma `device.read_noise` per cell,
summed over the 8 cells into one normal draw per event and neuron (exact for
independent Gaussian read noise). Stuck cells (`device.stuck`: a cell meant to be HRS
left in LRS, or the reverse) are drawn per chip; an optional what-if (`flips`) flips
cell states (LRS <-> HRS) per chip from any transition matrix over the binary alphabet
(-1 = HRS, +1 = LRS). Both use the shared `ErrorInjector`. Neuron thresholds spread by
the table's Monte Carlo sigma when `mismatch` (transistor mismatch) is on.

Neuron. Integrate-and-fire without leak: the membrane charge V (C) adds q at each event;
V >= Q_th+ emits a positive spike, V <= -Q_th- a negative one; after a spike the
neuron cannot spike for the refractory time but keeps integrating, and fires as soon as
it ends if V is still past a threshold. Reset "rest" puts V back to 0 (the circuit: a
switch to the resting voltage, charge above the threshold is lost); "subtract" removes
only the threshold charge. Thresholds are drawn per chip and neuron with the
characterized relative spread.

Event-driven and vectorized: each image instance's input spikes are sorted in time and
padded to a common length K; the simulation loops over the event index k (not over time
steps) with all (chip, image, neuron) states as arrays. Because the membrane does not
change between events, spikes due between event k and k+1 are emitted in closed form:
the number of refractory slots in [max(ready, t_k), t_{k+1}) bounds how many fire. Events
at the same instant are summed before the threshold check (as an event arbiter would
deliver them back to back within one read slot).

Classification: the neuron with the highest net spike count (positive minus negative);
a tie is broken at random (seeded), as a tie carries no information, and counted.

Seeding: `SeedSequence(seed)` children (0,) devices, (1,) input spike trains and read
noise, (2,) cell-state flips, (3,) tie breaks, (4,) stuck cells; chip c uses grandchild c
of each, so chip c's
draws do not depend on how many chips run or how they are grouped, and the same seed
gives every case (ideal, spread, bit errors, leakage sweep) the same input spike trains.
"""

from __future__ import annotations

import dataclasses
import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import TransitionMatrix
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.inject.sampler import ErrorInjector
from circuitkit.seeding import child_seed, trial_generator
from circuitkit.snn.table import CharacterizationTable, NeuronCharacteristics
from circuitkit.snn.train import WEIGHT_MAX, check_weights

CODINGS = ("poisson", "regular")
CELL_ALPHABET = (-1, 1)  # cell-state alphabet for bit errors: -1 HRS, +1 LRS (the binary scheme)
DEFAULT_MAX_BYTES = 128 * 2**20
_SEED_DEVICES, _SEED_INPUTS, _SEED_ERRORS, _SEED_TIES, _SEED_STUCK = range(5)


class SnnError(CircuitkitError):
    """Inputs the SNN simulator cannot run."""


@dataclasses.dataclass(frozen=True)
class RateCoding:
    """How pixel intensities become input spikes within one presentation window."""

    kind: str = "poisson"
    # Expected spikes of a pixel of intensity 1 in the window, an input: 7 gives 12x12
    # MNIST (mean pixel sum 19.1 on the default test split) about 133 input spikes per
    # image, near the reference's 136.
    max_spikes: float = 7.0
    window_s: float = 10e-6

    def __post_init__(self) -> None:
        if self.kind not in CODINGS:
            raise SnnError(f"coding must be one of {CODINGS}, got {self.kind!r}")
        if not (np.isfinite(self.max_spikes) and self.max_spikes > 0):
            raise SnnError(f"max_spikes must be a finite number > 0, got {self.max_spikes!r}")
        if not (np.isfinite(self.window_s) and self.window_s > 0):
            raise SnnError(f"window_s must be a finite number > 0 s, got {self.window_s!r}")


@dataclasses.dataclass(frozen=True)
class Chips:
    """Per-chip synapse charges and neuron thresholds; row P of the charge arrays is the
    all-zero row that padding events read."""

    charge_mean: np.ndarray  # (C, P + 1, n) net charge per read (C)
    charge_std: np.ndarray  # (C, P + 1, n) cycle-to-cycle sigma of that charge (C)
    threshold_pos: np.ndarray  # (C, n) charge to the positive threshold (C)
    threshold_neg: np.ndarray  # (C, n)

    @property
    def count(self) -> int:
        return int(self.charge_mean.shape[0])


def cell_states(weights: np.ndarray) -> np.ndarray:
    """(P, n, 2, 4) int8 cell states of integer weights: +1 LRS, -1 HRS; axis 2 is the
    polarity (0 positive, 1 negative), axis 3 the cell. A weight +w has positive cells
    0..w-1 in LRS; -w negative cells 0..w-1; every other cell in HRS."""
    w = check_weights(weights).astype(np.int16)
    index = np.arange(WEIGHT_MAX)
    positive = index < np.clip(w, 0, None)[..., None]
    negative = index < np.clip(-w, 0, None)[..., None]
    return np.where(np.stack([positive, negative], axis=2), 1, -1).astype(np.int8)


def check_device(table: CharacterizationTable, device: DeviceNonideality | None,
                 flips: TransitionMatrix | None = None) -> None:
    """A clear error when the SNN cannot simulate `device` on `table`, or `flips` is not a
    cell-state matrix."""
    if flips is not None and tuple(flips.alphabet) != CELL_ALPHABET:
        raise SnnError(f"cell-state bit errors need a binary transition matrix over {CELL_ALPHABET} "
                       f"(-1 HRS, +1 LRS), got alphabet {tuple(flips.alphabet)}")
    if device is None:
        return
    recorded = table.recorded_states()
    if recorded is not None and (device.states.lrs, device.states.hrs) != (recorded.lrs, recorded.hrs):
        raise SnnError(f"{table.source} characterized the read currents of {recorded.numbers()}, not of the "
                       f"device's {device.states.numbers()}: characterize with that device "
                       "(`snn.characterize.characterize(point, device=...)`), or use `table.device()`")


def build_chips(
    weights: np.ndarray,
    table: CharacterizationTable,
    chips: int,
    seed: int | np.random.SeedSequence = 0,
    device: DeviceNonideality | None = None,
    *,
    mismatch: bool | None = None,
    flips: TransitionMatrix | None = None,
    first_chip: int = 0,
) -> Chips:
    """Draw `chips` chips (numbers first_chip ..) holding `weights`: cell states (with
    stuck cells and `flips`), per-cell read currents and per-neuron thresholds.

    `device` None: every cell at its state's median current, exact reads, no stuck
    cells. `mismatch` (default: whether a device is given): neuron thresholds spread by
    the table's relative sigma."""
    if chips < 1:
        raise SnnError(f"chips must be >= 1, got {chips}")
    check_device(table, device, flips)
    mismatch = device is not None if mismatch is None else mismatch
    states = cell_states(weights)
    syn, neuron = table.synapse, table.neuron
    all_states = np.broadcast_to(states, (chips, *states.shape))
    stuck = device.stuck if device is not None else None
    for transition, stream in ((stuck.transition() if stuck else None, _SEED_STUCK), (flips, _SEED_ERRORS)):
        if transition is None:
            continue
        all_states = np.stack([
            ErrorInjector(programmed, CELL_ALPHABET, transition.matrix).corrupted(
                1, child_seed(seed, stream), first_trial=chip)[0]
            for chip, programmed in zip(range(first_chip, first_chip + chips), all_states)])
    lrs = all_states > 0
    n_out = states.shape[1]
    currents = np.empty(all_states.shape)
    th_pos = np.full((chips, n_out), neuron.charge_to_threshold_pos_c)
    th_neg = np.full((chips, n_out), neuron.charge_to_threshold_neg_c)
    # Median copied current of every cell by state and polarity (axis 2: positive, negative path).
    polarity_axis = (1, 1, 2, 1)
    lrs_median = np.reshape([syn.lrs_current_a, syn.lrs_current_neg_a], polarity_axis)
    hrs_median = np.reshape([syn.hrs_current_a, syn.hrs_current_neg_a], polarity_axis)
    for row, chip in enumerate(range(first_chip, first_chip + chips)):
        rng = trial_generator(child_seed(seed, _SEED_DEVICES), chip)
        if device is not None:
            z = rng.standard_normal(states.shape)
            currents[row] = np.where(lrs[row], lrs_median * np.exp(syn.lrs_sigma_ln * z),
                                     hrs_median * np.exp(syn.hrs_sigma_ln * z))
        else:
            currents[row] = np.where(lrs[row], lrs_median, hrs_median)
        if mismatch:
            # Threshold spread: relative Gaussian, kept positive.
            spread = np.maximum(1 + neuron.threshold_sigma_rel * rng.standard_normal((2, n_out)), 0.05)
            th_pos[row] *= spread[0]
            th_neg[row] *= spread[1]
    charges = currents * syn.t_read_s
    mean = charges[..., 0, :].sum(axis=-1) - charges[..., 1, :].sum(axis=-1)
    read_noise = device.read_noise.sigma_rel if device is not None and device.read_noise is not None else 0.0
    if read_noise > 0:
        std = read_noise * np.sqrt((charges**2).sum(axis=(-1, -2)))
    else:
        std = np.zeros_like(mean)
    pad = np.zeros((chips, 1, n_out))
    return Chips(np.concatenate([mean, pad], axis=1), np.concatenate([std, pad], axis=1), th_pos, th_neg)


@dataclasses.dataclass(frozen=True)
class InputSpikes:
    """Sorted input events of B image instances, padded to K: padding reads pixel P (the
    zero row) at the window end."""

    pixels: np.ndarray  # (B, K) int32
    times: np.ndarray  # (B, K) float64, seconds from the start of the window
    counts: np.ndarray  # (B,) real events per instance


def input_generator(seed: int | np.random.SeedSequence, chip: int) -> np.random.Generator:
    """The generator of chip `chip`'s input spike trains (then its read noise)."""
    return trial_generator(child_seed(seed, _SEED_INPUTS), chip)


def expected_pixel_spikes(x: np.ndarray, coding: RateCoding) -> np.ndarray:
    """Mean number of input spikes of each pixel of x under the coding."""
    expected = np.asarray(x, dtype=np.float64) * coding.max_spikes
    return expected if coding.kind == "poisson" else np.floor(expected + 0.5)


def encode(x: np.ndarray, coding: RateCoding, rng: np.random.Generator) -> InputSpikes:
    """Spike trains of images x (B, P) in [0, 1], sorted by time within each image."""
    x = np.asarray(x, dtype=np.float64)
    n_images, n_pixels = x.shape
    expected = expected_pixel_spikes(x, coding)
    per_pixel = rng.poisson(expected) if coding.kind == "poisson" else expected.astype(np.int64)
    flat_counts = per_pixel.ravel()
    total = int(flat_counts.sum())
    owner = np.repeat(np.arange(flat_counts.size), flat_counts)  # image * P + pixel of each event
    if coding.kind == "poisson":
        times = rng.uniform(0.0, coding.window_s, size=total)
    else:
        # Spike m of a pixel with c spikes at (m + 1/2) / c of the window.
        first = np.repeat(np.cumsum(flat_counts) - flat_counts, flat_counts)
        m = np.arange(total) - first
        times = (m + 0.5) / flat_counts[owner] * coding.window_s
    image = owner // n_pixels
    order = np.lexsort((times, image))
    image, pixel, times = image[order], (owner % n_pixels)[order], times[order]
    counts = per_pixel.sum(axis=1)
    width = max(1, int(counts.max()) if counts.size else 1)
    slot = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    pixels = np.full((n_images, width), n_pixels, dtype=np.int32)
    padded_times = np.full((n_images, width), coding.window_s)
    pixels[image, slot] = pixel
    padded_times[image, slot] = times
    return InputSpikes(pixels, padded_times, counts)


@dataclasses.dataclass(frozen=True)
class SnnRun:
    """Outcome of simulating C chips over N images."""

    net_counts: np.ndarray  # (C, N, n) positive minus negative spikes
    positive: np.ndarray  # (C, N, n)
    negative: np.ndarray  # (C, N, n)
    input_spikes: np.ndarray  # (C, N)
    predictions: np.ndarray  # (C, N)
    ties: np.ndarray  # (C, N) bool: the top net count was shared (broken at random)
    spikes: list | None = None  # recorded output spikes (chip, image, neuron, time, polarity)

    def accuracies(self, labels: np.ndarray) -> np.ndarray:
        return np.mean(self.predictions == np.asarray(labels)[None, :], axis=1)

    @property
    def output_spikes(self) -> np.ndarray:
        """(C, N) output spikes of all neurons, both polarities."""
        return (self.positive + self.negative).sum(axis=-1)


def simulate(
    chips: Chips,
    x: np.ndarray,
    coding: RateCoding,
    neuron: NeuronCharacteristics,
    seed: int | np.random.SeedSequence = 0,
    *,
    first_chip: int = 0,
    record: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SnnRun:
    """Classify every image of x (N, P) on every chip; see the module docstring."""
    x = np.asarray(x, dtype=np.float64)
    n_pixels = chips.charge_mean.shape[1] - 1
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != n_pixels:
        raise SnnError(f"images of shape {x.shape} do not fit the network: expected (N >= 1, {n_pixels}) "
                       f"(one input per weight row)")
    if not np.all((x >= 0) & (x <= 1)):
        raise SnnError("pixel intensities must be in [0, 1]")
    n_images, n_out = x.shape[0], chips.charge_mean.shape[2]
    # Bytes per chip: padded events (pixel, time, noise per neuron) + state arrays.
    per_chip = n_images * (int(np.ceil(x.sum(axis=1).max() * coding.max_spikes * 1.3)) + 16) * (12 + 4 * n_out)
    group = max(1, min(chips.count, max_bytes // max(per_chip, 1)))
    parts = [_simulate_group(chips, slice(start, min(start + group, chips.count)), x, coding, neuron, seed,
                             first_chip, record)
             for start in range(0, chips.count, group)]
    fields = {name: np.concatenate([getattr(p, name) for p in parts])
              for name in ("net_counts", "positive", "negative", "input_spikes", "predictions", "ties")}
    spikes = [s for p in parts for s in p.spikes] if record else None
    return SnnRun(**fields, spikes=spikes)


def _simulate_group(
    chips: Chips, rows: slice, x: np.ndarray, coding: RateCoding, neuron: NeuronCharacteristics,
    seed: int | np.random.SeedSequence, first_chip: int, record: bool,
) -> SnnRun:
    chip_rows = range(rows.start, rows.stop)
    n_chips, (n_images, _), n_out = len(chip_rows), x.shape, chips.charge_mean.shape[2]
    noisy = bool(np.any(chips.charge_std[rows] > 0))
    encodings, noises = [], []
    for row in chip_rows:
        rng = input_generator(seed, first_chip + row)
        spikes = encode(x, coding, rng)
        encodings.append(spikes)
        if noisy:
            noises.append(rng.standard_normal((*spikes.pixels.shape, n_out), dtype=np.float32))
    width = max(e.pixels.shape[1] for e in encodings)
    batch = n_chips * n_images
    pixels = np.full((batch, width), chips.charge_mean.shape[1] - 1, dtype=np.int32)
    times = np.full((batch, width + 1), coding.window_s)  # one extra column: the window end
    noise = np.zeros((batch, width, n_out), dtype=np.float32) if noisy else None
    for index, e in enumerate(encodings):
        block = slice(index * n_images, (index + 1) * n_images)
        pixels[block, :e.pixels.shape[1]] = e.pixels
        times[block, :e.times.shape[1]] = e.times
        if noisy:
            noise[block, :e.pixels.shape[1]] = noises[index]
    chip_of = np.repeat(np.arange(rows.start, rows.stop), n_images)
    # Flat (chip, pixel) rows of the charge tables, and event-major arrays, so that each
    # step reads contiguous memory: row index of event k of instance b is index[k, b].
    mean = chips.charge_mean.reshape(-1, n_out)
    std = chips.charge_std.reshape(-1, n_out)
    index = np.ascontiguousarray((pixels + (chip_of * chips.charge_mean.shape[1])[:, None]).T)
    times_t = np.ascontiguousarray(times.T)[:, :, None]  # (width + 1, batch, 1)
    noise_t = np.ascontiguousarray(noise.transpose(1, 0, 2)) if noisy else None
    th_pos = chips.threshold_pos[chip_of]
    neg_th = -chips.threshold_neg[chip_of]
    refractory = float(neuron.refractory_s)
    subtract = neuron.reset == "subtract"

    membrane = np.zeros((batch, n_out))
    ready = np.zeros((batch, n_out))  # time from which the neuron may spike again
    positive = np.zeros((batch, n_out), dtype=np.int32)
    negative = np.zeros((batch, n_out), dtype=np.int32)
    recorded = []
    for k in range(width):
        rows_k = index[k]
        membrane += mean[rows_k]
        if noisy:
            membrane += noise_t[k] * std[rows_k]
        t_next = times_t[k + 1]
        start = np.maximum(ready, times_t[k])
        open_ = start < t_next
        if subtract:
            # As many spikes as thresholds crossed, at most one per refractory slot left
            # before the next event.
            slots = np.ceil((t_next - start) / refractory) if refractory > 0 else np.inf
            slots = np.where(open_, slots, 0.0)
            fire_pos = np.clip(np.floor(membrane / th_pos), 0.0, slots)
            fire_neg = np.clip(np.floor(membrane / neg_th), 0.0, slots)
            fired = fire_pos + fire_neg
            if not fired.any():
                continue
            membrane -= fire_pos * th_pos + fire_neg * neg_th
        else:
            # One spike, then the membrane is at rest: nothing left to fire until the next event.
            fire_pos = membrane >= th_pos
            fire_pos &= open_
            fire_neg = membrane <= neg_th
            fire_neg &= open_
            fired_mask = fire_pos | fire_neg
            if not fired_mask.any():
                continue
            membrane[fired_mask] = 0.0
            fired = fired_mask.astype(np.float64)
        positive += fire_pos.astype(np.int32)
        negative += fire_neg.astype(np.int32)
        ready = np.where(fired > 0, start + fired * refractory, ready)
        if record:
            for b, j in zip(*np.nonzero(fired)):
                polarity = 1 if fire_pos[b, j] > 0 else -1
                for r in range(int(fired[b, j])):
                    recorded.append((first_chip + int(chip_of[b]), int(b % n_images), int(j),
                                     float(start[b, j] + r * refractory), polarity))
    shape = (n_chips, n_images, n_out)
    net = (positive - negative).reshape(shape)
    predictions = np.empty((n_chips, n_images), dtype=np.int64)
    ties = np.empty((n_chips, n_images), dtype=bool)
    for index, row in enumerate(chip_rows):
        rng = trial_generator(child_seed(seed, _SEED_TIES), first_chip + row)
        top = net[index] == net[index].max(axis=1, keepdims=True)
        ties[index] = top.sum(axis=1) > 1
        # Uniform choice among the tied maxima: the largest random key among them.
        predictions[index] = np.argmax(np.where(top, rng.random(top.shape), -1.0), axis=1)
    counts = np.stack([e.counts for e in encodings])
    return SnnRun(net, positive.reshape(shape), negative.reshape(shape), counts, predictions, ties, recorded)


def agreement(run: SnnRun, reference: np.ndarray) -> np.ndarray:
    """Per chip: fraction of images where the SNN picks the reference's class."""
    return np.mean(run.predictions == np.asarray(reference)[None, :], axis=1)


def run_case(
    weights: np.ndarray,
    table: CharacterizationTable,
    x: np.ndarray,
    *,
    chips: int,
    coding: RateCoding = RateCoding(),
    device: DeviceNonideality | None = None,
    mismatch: bool | None = None,
    flips: TransitionMatrix | None = None,
    seed: int = 0,
) -> SnnRun:
    """Build `chips` chips and classify x on all of them (the one-call form)."""
    built = build_chips(weights, table, chips, seed, device, mismatch=mismatch, flips=flips)
    return simulate(built, x, coding, table.neuron, seed)


def scalar_reference(
    chips: Chips, x: np.ndarray, coding: RateCoding, neuron: NeuronCharacteristics, *,
    seed: int | np.random.SeedSequence = 0, chip: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) spike counts (N, n) of one chip from a plain loop over images,
    neurons and events that emits spikes one at a time: the same semantics as `simulate`
    written the obvious way, without read noise (it ignores `charge_std`). Reference for
    tests and the benchmark's baseline, not for use."""
    spikes = encode(np.asarray(x, dtype=np.float64), coding, input_generator(seed, chip))
    n_out = chips.charge_mean.shape[2]
    positive = np.zeros((x.shape[0], n_out), dtype=np.int64)
    negative = np.zeros_like(positive)
    for image in range(x.shape[0]):
        real = int(spikes.counts[image])
        times = [*spikes.times[image, :real].tolist(), coding.window_s]
        pixels = spikes.pixels[image, :real].tolist()
        for j in range(n_out):
            v, ready = 0.0, 0.0
            th_p, th_n = float(chips.threshold_pos[chip, j]), float(chips.threshold_neg[chip, j])
            charges = chips.charge_mean[chip, :, j].tolist()
            for k in range(real):
                v += charges[pixels[k]]
                slot = max(ready, times[k])
                while slot < times[k + 1] and (v >= th_p or v <= -th_n):
                    if v >= th_p:
                        positive[image, j] += 1
                        v = v - th_p if neuron.reset == "subtract" else 0.0
                    else:
                        negative[image, j] += 1
                        v = v + th_n if neuron.reset == "subtract" else 0.0
                    ready = slot + neuron.refractory_s
                    slot = ready
    return positive, negative
