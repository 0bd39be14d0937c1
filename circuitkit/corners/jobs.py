"""A campaign's jobs: planned from its config, seeded by value, run through the read
simulator (retried once when ngspice does not converge), dispatched to an executor and
checkpointed one file per job.

A campaign is split into jobs of `batch_size` samples. Each job is independent: its
random numbers come from a seed derived from the campaign seed and the job's *values*
(scheme, stored weight or offset point, batch index), never from its position in the
grid or the worker that runs it. So the result is identical for 1 or N workers and for
any executor, and adding a corner to a campaign leaves the samples of the others
unchanged.

Common random numbers: the seed deliberately leaves out corner, supply and temperature.
Every condition reads the same drawn cells with the same standard-normal mismatch draws
(the PDK scales them per corner), so the difference between two conditions is the
circuit's, not the luck of the draw, and a trend across supplies shows with far fewer
samples. Each condition's own estimate is unaffected.

Each finished job is written atomically (`samples/<job>.json`, via rename) by the
process that collects results, so a killed campaign loses nothing and resumes.

This module knows no circuit (the `ReadSimulator` does) and counts nothing (the
campaign does).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import SCHEME_ALPHABETS, Condition
from circuitkit.corners.batch import ReadSimulator
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.executors import make_executor
from circuitkit.corners.importance import Proposal, target_log_ratio
from circuitkit.corners.rare import design_point_resistances
from circuitkit.device.model import ModelCard
from circuitkit.files import write_atomic
from circuitkit.operating import OperatingPoint
from circuitkit.seeding import keyed_seed
from circuitkit.sense_offset import OffsetFit
from circuitkit.spice.runner import SimulationError


@dataclasses.dataclass(frozen=True)
class Job:
    """One ngspice run: `count` sense circuits at one condition.

    For `mc`, each circuit reads a cell storing `stored` drawn from the device spread;
    for `offset`, each reads a cell with a fixed resistance ratio exp(`offset_point`)
    (BLb/BL) around the most probable failure point; for `is`, a cell drawn from the
    importance-sampling proposal centred at the log ratio `offset_point`
    (`corners.importance.Proposal`).
    """

    point: OperatingPoint
    scheme: str
    kind: str            # "mc", "offset" or "is"
    stored: int          # mc, is: the stored weight; offset: +1 (the ratio's sign is in `offset_point`)
    offset_point: float  # offset: ln(R_BLb / R_BL); is: the proposal's ln(R_BLb / R_BL); mc: 0
    batch: int
    count: int
    campaign_seed: int

    @property
    def condition(self) -> Condition:
        """The table's row key this job's reads count towards."""
        return Condition.at(self.point, self.scheme)

    @property
    def key(self) -> str:
        p = self.point
        return f"{p.corner}_v{p.vdd:.3f}_t{p.temp_c:+.1f}_{self.random_stream_key}"

    @property
    def random_stream_key(self) -> str:
        """What the job's random numbers depend on: not corner, vdd or temperature (common
        random numbers across conditions, see the module doc)."""
        what = f"s{self.stored:+d}" if self.kind in ("mc", "is") else f"x{self.offset_point:+.4f}"
        return f"{self.scheme}_{self.kind}_{what}_b{self.batch:04d}"

    def seed_sequence(self) -> np.random.SeedSequence:
        # The job's values (not its index) name the stream: see the module doc.
        return keyed_seed(self.campaign_seed, self.random_stream_key)


@dataclasses.dataclass(frozen=True)
class JobOutcome:
    job_key: str
    status: str                       # "ok" or "failed" (did not converge after the retry)
    attempts: int
    elapsed_s: float
    resistances_ohm: list[list[float]]
    read: list[int]
    delay_s: list[float]
    margin_v: list[float]
    spice_seed: int
    error: str = ""


def _batches(config: CampaignConfig) -> list[tuple[int, int]]:
    """(batch index, sample count) of the `samples` of one group in batches of `batch_size`."""
    return [(batch, min(config.batch_size, config.samples - batch * config.batch_size))
            for batch in range(math.ceil(config.samples / config.batch_size))]


def plan_jobs(config: CampaignConfig) -> list[Job]:
    jobs = []
    for point in config.points:
        if config.method == "mc":
            groups = [("mc", stored, 0.0) for stored in SCHEME_ALPHABETS[config.scheme]]
        else:
            groups = [("offset", +1, float(offset)) for offset in config.offset_points]
        for kind, stored, offset in groups:
            jobs += [Job(point, config.scheme, kind, stored, offset, batch, count, config.seed)
                     for batch, count in _batches(config)]
    return jobs


def plan_importance_jobs(config: CampaignConfig, fits: dict[Condition, OffsetFit]) -> list[Job]:
    """An `is` campaign's sampling jobs, placed by its pilot's offset `fits`
    (`corners.importance`): per condition and stored value, `samples` reads in batches.
    A job's `offset_point` holds the proposal's log ratio x*, which with the device model
    fixes its proposal (`Proposal.at`); its random numbers, like a Monte Carlo job's, do
    not depend on the condition (common random numbers)."""
    missing = [condition.label() for condition in config.conditions() if condition not in fits]
    if missing:
        raise CircuitkitError("importance sampling: the pilot decided reads at fewer than two offset points for "
                              + "; ".join(missing) + " (its jobs failed to converge or its reads did not resolve), "
                              "so there is no offset fit to place the proposal")
    jobs = []
    for point in config.points:
        fit = fits[Condition.at(point, config.scheme)]
        for stored in (+1, -1):
            log_ratio = target_log_ratio(config.device.states, stored, fit)
            jobs += [Job(point, config.scheme, "is", stored, log_ratio, batch, count, config.seed)
                     for batch, count in _batches(config)]
    return jobs


def job_resistances(job: Job, config: CampaignConfig, rng: np.random.Generator) -> np.ndarray:
    """The (BL, BLb) resistances of the job's cells."""
    if job.kind == "mc":
        return config.device.draw(rng, job.stored, job.count)
    if job.kind == "is":
        return Proposal.at(config.device.states, job.stored, job.offset_point).draw(rng, job.count)
    pair = design_point_resistances(config.device.states, job.offset_point)
    return np.tile(pair, (job.count, 1))


def run_job(job: Job, config: CampaignConfig, card: ModelCard | None, simulator: ReadSimulator) -> JobOutcome:
    """Simulate one job; a non-converging run is retried once with tighter tolerances."""
    sequence = job.seed_sequence()
    rng = np.random.default_rng(sequence)
    resistances = job_resistances(job, config, rng)
    spice_seed = int(sequence.generate_state(1, dtype=np.uint32)[0] % 2_000_000_000) + 1
    started = time.perf_counter()
    error = ""
    for attempt, tighter in enumerate((False, True), start=1):
        try:
            batch = simulator(job.point, job.scheme, resistances, spice_seed, stored=job.stored, card=card,
                              tighter=tighter, mismatch=config.mismatch)
            return JobOutcome(job.key, "ok", attempt, time.perf_counter() - started, resistances.tolist(),
                              [int(v) for v in batch.read], [float(v) for v in batch.delay_s],
                              [float(v) for v in batch.margin_v], spice_seed)
        except SimulationError as failure:
            error = str(failure)[:1000]
    return JobOutcome(job.key, "failed", 2, time.perf_counter() - started, resistances.tolist(),
                      [], [], [], spice_seed, error)


class SampleStore:
    """Finished jobs on disk: one JSON file per job, written atomically."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, job_key: str) -> Path:
        return self.directory / f"{job_key}.json"

    def has(self, job_key: str) -> bool:
        return self.path(job_key).exists()

    def write(self, outcome: JobOutcome) -> None:
        write_atomic(self.path(outcome.job_key), json.dumps(dataclasses.asdict(outcome)))

    def read(self, job_key: str) -> JobOutcome:
        path = self.path(job_key)
        try:
            return JobOutcome(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise CircuitkitError(f"checkpoint {path} is unreadable ({error}); delete it to resimulate that job") from error


def execute(jobs: Sequence[Job], config: CampaignConfig, store: SampleStore, simulator: ReadSimulator, *,
            workers: int = 1, executor: str = "process", scheduler: str | None = None,
            card: ModelCard | None = None, progress: bool = True) -> int:
    """Run the jobs not yet on disk; return how many were run now."""
    todo = [job for job in jobs if not store.has(job.key)]
    if not todo:
        return 0
    bar = _progress_bar(len(jobs), len(jobs) - len(todo), progress)
    remaining = iter(todo)
    with make_executor(executor, workers, scheduler, preload=(type(simulator).__module__,)) as (pool, slots):
        def submit_next(pending: set) -> None:
            job = next(remaining, None)
            if job is not None:
                pending.add(pool.submit(run_job, job, config, card, simulator))

        # A bounded window of jobs in flight (two per slot keeps every slot busy): each
        # outcome is on disk as soon as it exists (also with the serial executor, which runs
        # a job when it is submitted), and a huge campaign never queues all its futures.
        pending: set = set()
        for _ in range(2 * slots if slots > 1 else 1):
            submit_next(pending)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                store.write(future.result())
                bar.update(1)
                submit_next(pending)
    bar.close()
    return len(todo)


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="job", desc="campaign", disable=not enabled, leave=False)


def collect(jobs: Iterable[Job], store: SampleStore) -> dict[str, list[tuple[Job, JobOutcome]]]:
    """Outcomes grouped by job kind, in plan order (so aggregation never depends on
    completion order)."""
    grouped: dict[str, list[tuple[Job, JobOutcome]]] = {}
    for job in jobs:
        grouped.setdefault(job.kind, []).append((job, store.read(job.key)))
    return grouped
