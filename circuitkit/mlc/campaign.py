"""Monte Carlo of multi-level programming over many cells: checkpointed, resumable, into a
level-confusion table and per-level statistics.

Cell i of a campaign targets level i mod N (interleaved, as the bundled chip was
written) and starts from a resistance drawn from the fitted HRS distribution of the
distribution card (the bundled real array's formed-and-reset population, 7 % of it near
6 kohm: those cells start above every band but the top ones). The cells are split into
batches of `batch_size`; batch b draws its random numbers from the stream that
`circuitkit.seeding` names by the campaign seed and the values ("mlc batch", b), like the
other campaigns' jobs, so a resumed run, or one whose batches run in `workers` processes
in any order, gives the same cells. Each finished batch is written atomically
(`samples/batch_<b>.npz`); a killed campaign resumes where it stopped and its outputs
equal an uninterrupted run's. A directory holding
another configuration or another model card is refused.

Outputs in the campaign directory:

- `ber_table.csv`: the confusion table (scheme `mlc<N>`, stored = target level, read =
  level of a later read, Clopper-Pearson intervals), condition corner `mlc-<scheme>`,
  vdd 0 (not a supply: the table's key), temp_c the model's temperature;
- `levels.csv`: per level, cells, success (in band at the last verify) with its
  interval, read-conductance quantiles, error read - target (mean with interval, rms),
  pulses (all, SET, RESET), attempts, pulse and verify-read energy (means with intervals);
- `summary.json`: settings, model card, totals, distinguishable levels, the energy
  method, drift status, cells per second.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, Condition
from circuitkit.device.model import ModelCard
from circuitkit.device.pulse import PulseModel
from circuitkit.files import write_atomic, write_json, write_rows_csv
from circuitkit.mlc import analysis
from circuitkit.mlc.engine import ProgrammingEngine, with_measured_read_noise, with_read_noise_scale
from circuitkit.mlc.levels import MEASURED_RANGE_S, LevelMap
from circuitkit.mlc.schemes import SCHEMES, scheme_by_name
from circuitkit.mlc.writeverify import DEFAULT_READ_TIME_S, DriftModel, ProgrammingResult, write_verify
from circuitkit.resources import bundled_data
from circuitkit.seeding import value_seed
from circuitkit.stats import binomial_bounds

PULSE_CARD = "fits/real_1t1r/pulse/model_card.json"
START_CARD = "fits/real_1t1r/distribution/model_card.json"
DRIFT_OFF = ("off: no relaxation model given (`circuitkit mlc --drift-card`); the reads are fresh reads of the just-programmed "
             "state (the bundled measured reads were taken 15-30 min after programming)")
ENERGY_METHOD = ("pulse energy = |V_BL - V_SL| x charge through cell and access transistor, integrated along the "
                 "pulse model's gap trajectory (mlc/engine.py); verify reads: V_read^2 / R x read time; line "
                 "capacitance, word-line gate and peripherals not included")


@dataclasses.dataclass(frozen=True)
class MlcConfig:
    """Everything that decides a multi-level campaign's numbers (saved as mlc_config.json)."""

    levels: int = 32
    g_low: float = MEASURED_RANGE_S[0]
    g_high: float = MEASURED_RANGE_S[1]
    scheme: str = "dual-direction"
    tolerance: float | None = None  # S; None: the level's band
    max_pulses: int = 300
    cells_per_level: int = 256
    batch_size: int = 2048
    seed: int = 1
    read_time_s: float = DEFAULT_READ_TIME_S
    read_noise_scale: float = 1.0  # what-if knob on the measured read noise (see mlc.engine)

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise CircuitkitError(f"unknown write-verify scheme {self.scheme!r}; expected one of {', '.join(SCHEMES)}")
        for name in ("cells_per_level", "batch_size", "max_pulses", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise CircuitkitError(f"mlc campaign: {name}={value!r}: expected a positive integer")
        if self.tolerance is not None and not self.tolerance > 0:
            raise CircuitkitError(f"mlc campaign: tolerance={self.tolerance!r} S: expected > 0 (or none: the band)")
        self.level_map  # checks levels and range

    @property
    def level_map(self) -> LevelMap:
        return LevelMap(self.levels, self.g_low, self.g_high)

    @property
    def cells(self) -> int:
        return self.levels * self.cells_per_level

    @property
    def batches(self) -> int:
        return math.ceil(self.cells / self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MlcCampaign:
    """A finished campaign: all cells, their later reads, the table and the summary."""

    config: MlcConfig
    result: ProgrammingResult
    later_read_ohm: np.ndarray
    table: BerTable
    level_rows: list[dict]
    summary: dict[str, Any]
    outdir: Path

    @property
    def later_conductance(self) -> np.ndarray:
        return 1.0 / self.later_read_ohm


def default_cards() -> tuple[ModelCard, ModelCard]:
    """The bundled real-device pulse card and distribution card."""
    return ModelCard.load(bundled_data(PULSE_CARD)), ModelCard.load(bundled_data(START_CARD))


def cards_or_bundled(pulse_card: ModelCard | None, start_card: ModelCard | None,
                     log: Callable[[str], None] | None = print,
                     why: str = "none given") -> tuple[ModelCard, ModelCard, tuple[str, ...]]:
    """(pulse card, distribution card, fallbacks): the given cards, and the bundled real-device
    card (loaded only then) for each not given; each fallback is announced on `log` and
    returned as a line for the caller's artefact and report."""
    fallbacks: list[str] = []

    def given_or_bundled(card: ModelCard | None, what: str, name: str) -> ModelCard:
        if card is not None:
            return card
        fallbacks.append(f"{what}: {why}, using the bundled real-device card ({name})")
        if log:
            log(f"fallback: {fallbacks[-1]}")
        return ModelCard.load(bundled_data(name))

    return (given_or_bundled(pulse_card, "pulse model", PULSE_CARD),
            given_or_bundled(start_card, "start distribution", START_CARD), tuple(fallbacks))


def add_card_options(parser) -> None:
    """The `--pulse-card` and `--start-card` options of the commands that program cells."""
    parser.add_argument("--pulse-card", type=Path, help="model card with a fitted pulse model (`circuitkit fit "
                        "--kind pulse`; default: the bundled real-device card)")
    parser.add_argument("--start-card", type=Path, help="model card with a fitted HRS distribution the cells start "
                        "from (`--kind distribution`; default: the bundled real-device card)")


def load_cards(pulse_path: Path | None, start_path: Path | None, log: Callable[[str], None] | None = print
               ) -> tuple[ModelCard, ModelCard, dict[str, Any]]:
    """(pulse card, start card, what was used) for `add_card_options`: the files given,
    checked for the fit each must carry (refused naming the option and the file), the bundled
    real-device card for the rest (`cards_or_bundled`: announced on `log`), and paths,
    digests and fallbacks for the command's JSON."""
    given = {"pulse": None if pulse_path is None else ModelCard.load(pulse_path),
             "start": None if start_path is None else ModelCard.load(start_path)}
    if given["pulse"] is not None and not given["pulse"].pulse_model:
        raise CircuitkitError(f"--pulse-card {pulse_path}: the card carries no pulse model (fit one: circuitkit fit "
                              "SET.tsv RESET.tsv --kind pulse with word-, bit- and source-line voltages)")
    if given["start"] is not None and "HRS" not in given["start"].distributions:
        raise CircuitkitError(f"--start-card {start_path}: the card has no fitted HRS distribution (states on the card: "
                              f"{', '.join(given['start'].distributions) or 'none'}; fit one: circuitkit fit CELLS.csv "
                              "--kind distribution)")
    pulse, start, fallbacks = cards_or_bundled(given["pulse"], given["start"], log=log)
    used = {"pulse_card": f"{pulse_path or 'bundled'} ({card_digest(pulse)})",
            "start_card": f"{start_path or 'bundled'} ({card_digest(start)})", "fallbacks": list(fallbacks)}
    return pulse, start, used


def card_digest(card: ModelCard) -> str:
    return f"sha256 {hashlib.sha256(card.to_json().encode()).hexdigest()[:16]}"


def batch_generator(seed: int, batch: int) -> np.random.Generator:
    """The random stream of one batch: named by the campaign seed and ("mlc batch", b)."""
    return np.random.Generator(np.random.PCG64(value_seed(seed, "mlc batch", batch)))


def programming(config: MlcConfig, pulse_card: ModelCard):
    """(model, scheme, engine, read-noise text): the pulse model (its reads with the measured
    read noise, scaled by `config.read_noise_scale`), scheme and engine a campaign programs
    with, and what the reads assumed. `config` is an `MlcConfig` or any config with the same
    `scheme`, `level_map`, `max_pulses` and `read_noise_scale` (`crossbar.CrossbarConfig`)."""
    model, read_noise = with_measured_read_noise(PulseModel.from_card(pulse_card))
    model = with_read_noise_scale(model, config.read_noise_scale)
    scheme = scheme_by_name(config.scheme, model, config.level_map, max_pulses=config.max_pulses)
    if config.read_noise_scale != 1:
        read_noise += f"; x {config.read_noise_scale:g} (what-if)"
    return model, scheme, ProgrammingEngine.for_scheme(model, scheme), read_noise


_WORKER: dict[str, Any] = {}  # in a worker process: the campaign's config and programming, built once


def _start_worker(config: MlcConfig, pulse_card: ModelCard) -> None:
    """A worker process builds the model, scheme and engine (its tables) once, not per batch."""
    model, scheme, engine, _ = programming(config, pulse_card)
    _WORKER.update(config=config, model=model, scheme=scheme, engine=engine)


def _batch_job(start: ModelCard, batch: int, drift: DriftModel | None, drift_t_s: float
               ) -> tuple[int, dict[str, np.ndarray]]:
    """One batch in a worker process, with the engine `_start_worker` built."""
    return batch, _run_batch(_WORKER["config"], _WORKER["model"], start, _WORKER["engine"], _WORKER["scheme"], batch,
                             drift, drift_t_s)


def _run_batch(config: MlcConfig, model: PulseModel, start: ModelCard, engine: ProgrammingEngine, scheme,
               batch: int, drift: DriftModel | None, drift_t_s: float) -> dict[str, np.ndarray]:
    first = batch * config.batch_size
    index = np.arange(first, min(first + config.batch_size, config.cells))
    rng = batch_generator(config.seed, batch)
    target = index % config.levels
    r_start = start.distribution("HRS").sample(rng, index.size)
    result = write_verify(engine, scheme, config.level_map, target, r_start, rng, tolerance=config.tolerance,
                          read_time_s=config.read_time_s)
    later = result.later_read(engine, rng, drift=drift, t_s=drift_t_s, temp_c=model.temp_c)
    return {**result.to_arrays(), "r_start": r_start, "later_read": later}


def drift_label(drift: DriftModel, t_s: float, temp_c: float) -> str:
    """What the later read assumed: the relaxation model (its own description, so another
    fit is another campaign), the read time and the temperature."""
    described = drift.describe() if hasattr(drift, "describe") else type(drift).__name__
    return f"{described}; read {t_s:g} s after programming at {temp_c:g} C"


def run_mlc_campaign(config: MlcConfig, outdir: Path | str, *, pulse_card: ModelCard | None = None,
                     start_card: ModelCard | None = None, drift: DriftModel | None = None, drift_t_s: float = 0.0,
                     distinguish_threshold: float = analysis.DEFAULT_THRESHOLD,
                     log: Callable[[str], None] | None = print, workers: int = 1) -> MlcCampaign:
    """Run (or resume) a campaign into `outdir`; `workers` > 1 programs the missing batches
    in that many processes (same cells: each batch carries its own stream)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise CircuitkitError(f"mlc: workers={workers!r}: expected a positive integer")
    outdir = Path(outdir)
    pulse_card, start_card, fallbacks = cards_or_bundled(pulse_card, start_card, log)
    model, scheme, engine, read_noise = programming(config, pulse_card)
    levels = config.level_map
    key = {"config": config.to_dict(), "pulse_card": card_digest(pulse_card), "start_card": card_digest(start_card),
           "read_noise": read_noise, "rate_split": model.rate_split_text(),
           "drift": "off" if drift is None else drift_label(drift, drift_t_s, model.temp_c)}
    check_or_save_key(outdir / "mlc_config.json", key)
    samples = outdir / "samples"
    started = time.perf_counter()
    ran = cells_run = 0

    def save(batch: int, arrays: dict[str, np.ndarray]) -> None:
        nonlocal ran, cells_run
        save_batch(samples / f"batch_{batch:04d}.npz", arrays)
        ran += 1
        cells_run += arrays["level"].size

    missing = [b for b in range(config.batches) if not (samples / f"batch_{b:04d}.npz").exists()]
    if workers > 1 and len(missing) > 1:
        # spawn, as the corner campaigns: a worker starts clean; each finished batch is saved at once
        with ProcessPoolExecutor(max_workers=min(workers, len(missing)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker, initargs=(config, pulse_card)) as pool:
            futures = [pool.submit(_batch_job, start_card, b, drift, drift_t_s) for b in missing]
            for future in as_completed(futures):
                save(*future.result())
    else:
        for batch in missing:
            save(batch, _run_batch(config, model, start_card, engine, scheme, batch, drift, drift_t_s))
    elapsed = time.perf_counter() - started
    parts = [load_batch(samples / f"batch_{b:04d}.npz") for b in range(config.batches)]
    result = ProgrammingResult.concatenate([ProgrammingResult.from_arrays(p) for p in parts])
    later = np.concatenate([p["later_read"] for p in parts])
    condition = Condition(f"mlc-{config.scheme}", 0.0, float(model.temp_c), levels.scheme)
    table = analysis.confusion_table(levels, result.level, 1.0 / later, condition)
    table.write(outdir / "ber_table.csv")
    success = result.success.astype(np.int64)
    rows = analysis.level_statistics(levels, result.level, 1.0 / later, {
        "pulses": result.pulses, "set_pulses": result.set_pulses, "reset_pulses": result.reset_pulses,
        "attempts": result.attempts, "pulse_energy_j": result.pulse_energy_j, "read_energy_j": result.read_energy_j})
    for row in rows:
        sel = result.level == row["level"]
        count, n = int(success[sel].sum()), int(sel.sum())
        low, high = binomial_bounds(np.int64(count), np.int64(n))
        row.update(success=count / n, success_ci_low=float(low), success_ci_high=float(high))
    write_rows_csv(outdir / "levels.csv", rows)
    counts = analysis.confusion_counts(levels, result.level, 1.0 / later)
    distinct = analysis.distinguishable_levels(result.level, 1.0 / later, levels.levels, distinguish_threshold)
    total_success = int(success.sum())
    low, high = binomial_bounds(np.int64(total_success), np.int64(len(result)))
    errors = int(len(result) - np.trace(counts))
    err_low, err_high = binomial_bounds(np.int64(errors), np.int64(len(result)))
    summary = {
        "settings": config.to_dict(), "scheme": scheme.describe(), "levels": levels.to_dict(),
        "pulse_model_card": dict(pulse_card.provenance), "pulse_card": key["pulse_card"],
        "start_state": "fitted HRS distribution of the distribution card (" + key["start_card"] + ")",
        "fallbacks": list(fallbacks),
        "cells": len(result), "success": {"count": total_success, "fraction": total_success / len(result),
                                          "ci_low": float(low), "ci_high": float(high)},
        "level_error_rate": {"count": errors, "fraction": errors / len(result), "ci_low": float(err_low),
                             "ci_high": float(err_high), "meaning": "later read outside the target level's band"},
        "pulses_mean": float(result.pulses.mean()), "pulse_energy_j_mean": float(result.pulse_energy_j.mean()),
        "read_energy_j_mean": float(result.read_energy_j.mean()),
        "distinguishable": distinct.to_dict(), "drift": DRIFT_OFF if drift is None else key["drift"],
        "energy_method": ENERGY_METHOD,
        "read_noise": read_noise, "rate_split": key["rate_split"],
        "batches_run_now": ran, "wall_time_s_this_run": elapsed,
        "cells_per_second": cells_run / elapsed if cells_run and elapsed > 0 else None,
    }
    write_json(outdir / "summary.json", summary)
    if log:
        log(f"mlc: {len(result)} cells, {config.levels} levels, {config.scheme}: in band at the last verify "
            f"{total_success / len(result):.1%} [{low:.1%}, {high:.1%}], later reads in the target band "
            f"{1 - errors / len(result):.1%}, {result.pulses.mean():.1f} pulses and "
            f"{result.pulse_energy_j.mean() * 1e12:.0f} pJ per cell; {distinct.count} distinguishable levels "
            f"(threshold {distinguish_threshold:g}); drift {'off' if drift is None else 'on'}; rate spread: "
            f"{key['rate_split']}")
    return MlcCampaign(config, result, later, table, rows, summary, outdir)


def save_batch(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A finished batch's arrays, written atomically (a killed campaign loses nothing)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def load_batch(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise CircuitkitError(f"checkpoint {path} is unreadable ({error}); delete it to reprogram that batch") from None


def check_or_save_key(path: Path, key: dict[str, Any], what: str = "multi-level campaign") -> None:
    """Refuse to mix batches of another configuration, card or drift in one directory."""
    if path.exists():
        saved = json.loads(path.read_text())
        differing = sorted(k for k in set(saved) | set(key) if json.dumps(saved.get(k), sort_keys=True)
                           != json.dumps(key.get(k), sort_keys=True))
        if differing:
            raise CircuitkitError(f"{path.parent} holds a {what} with another {', '.join(differing)}; "
                                  "use another output directory, or delete it to start over")
        return
    write_atomic(path, json.dumps(key, indent=2, sort_keys=True) + "\n")
