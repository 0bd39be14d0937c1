"""PVT Monte Carlo campaigns: corners x supplies x temperatures x stored weights x samples.

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
process that collects results. A campaign killed at any moment and restarted with the
same command skips the jobs on disk, so nothing is lost or duplicated and the final
table equals an uninterrupted run's.

The campaign is the orchestrator: it plans, seeds, dispatches, checkpoints and counts.
It must not know the circuit: the caller hands `run_campaign` a `ReadSimulator`
(`circuitkit.corners.batch`; the 2T2R + PCSA one is
`circuitkit.corners.reads.PcsaReadSimulator`). It draws no plot either: the caller does
(`circuitkit.report.plots.plot_ber_vs_vdd`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import SCHEME_ALPHABETS, BerTable, Condition
from circuitkit.corners.batch import ReadSimulator
from circuitkit.corners.spread import DeviceSpread
from circuitkit.device.model import ModelCard
from circuitkit.files import write_atomic
from circuitkit.operating import Corner, OperatingPoint

METHODS = ("mc", "offset")
# Points (ln of the BLb/BL resistance ratio) at which the `offset` method measures the
# probability that the sense amplifier reads +1; symmetric, denser near zero.
DEFAULT_OFFSET_POINTS = (-0.8, -0.4, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.4, 0.8)


@dataclasses.dataclass(frozen=True)
class CampaignConfig:
    """Everything that determines a campaign's numbers (saved as campaign_config.json).

    The grid is `corners` x `vdd` x `temp_c` (the names of `circuitkit ber --corners
    --vdd --temp-c` and of a flow file's [campaign] keys); each combination is one
    `OperatingPoint`, made and checked once here (`points`).
    """

    corners: tuple[Corner, ...] = (Corner.TT,)
    vdd: tuple[float, ...] = (1.8,)
    temp_c: tuple[float, ...] = (27.0,)
    scheme: str = "binary"
    samples: int = 256                 # per condition and stored value (mc), per offset point (offset)
    seed: int = 1
    method: str = "mc"
    batch_size: int = 64               # sense circuits per ngspice run
    spread: DeviceSpread = DeviceSpread()
    offset_points: tuple[float, ...] = DEFAULT_OFFSET_POINTS
    mismatch: bool = True              # per-instance transistor mismatch (the PDK's own AGAUSS)

    # The grid's operating points, corners outermost (the table's order); not a setting.
    points: tuple[OperatingPoint, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("corners", "vdd", "temp_c", "offset_points"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.corners or not self.vdd or not self.temp_c:
            raise CircuitkitError("a campaign needs at least one corner, one supply and one temperature")
        # The points' own check (the netlists' range), here, so a campaign never starts a job it cannot run.
        try:
            points = tuple(OperatingPoint(corner, vdd, temp)
                           for corner in self.corners for vdd in self.vdd for temp in self.temp_c)
        except CircuitkitError as error:
            raise CircuitkitError(f"campaign: {error}") from None
        # Normalised as the points are (a flow file's `temp_c = [27]` is 27.0 like --temp-c 27).
        object.__setattr__(self, "corners", tuple(Corner(corner) for corner in self.corners))
        object.__setattr__(self, "vdd", tuple(float(vdd) for vdd in self.vdd))
        object.__setattr__(self, "temp_c", tuple(float(temp) for temp in self.temp_c))
        object.__setattr__(self, "points", points)
        if self.scheme not in SCHEME_ALPHABETS:
            raise CircuitkitError(f"unknown scheme {self.scheme!r}; expected one of {', '.join(SCHEME_ALPHABETS)}")
        if self.method not in METHODS:
            raise CircuitkitError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)}")
        if self.method == "offset" and self.scheme != "binary":
            raise CircuitkitError("the offset (rare-event) method models a binary decision; use --method mc for ternary")
        for name in ("samples", "batch_size", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise CircuitkitError(f"campaign: {name}={value!r}: expected a whole number >= {0 if name == 'seed' else 1}")
        if self.method == "offset" and len(self.offset_points) < 3:
            raise CircuitkitError("the offset method needs at least 3 offset points")

    def conditions(self) -> list[Condition]:
        return [Condition.at(point, self.scheme) for point in self.points]

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (corners as their names)."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.init}
        return {**data, "corners": [corner.value for corner in self.corners], "vdd": list(self.vdd),
                "temp_c": list(self.temp_c), "offset_points": list(self.offset_points),
                "spread": self.spread.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CampaignConfig":
        return cls(**{**data, "spread": DeviceSpread.from_dict(data["spread"])})


@dataclasses.dataclass(frozen=True)
class Job:
    """One ngspice run: `count` sense circuits at one condition.

    For `mc`, each circuit reads a cell storing `stored` drawn from the device spread;
    for `offset`, each reads a cell with a fixed resistance ratio exp(`offset_point`)
    (BLb/BL) around the most probable failure point.
    """

    point: OperatingPoint
    scheme: str
    kind: str            # "mc" or "offset"
    stored: int          # mc: the stored weight; offset: +1 (the ratio's sign is in `offset_point`)
    offset_point: float  # offset: ln(R_BLb / R_BL); mc: 0
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
        what = f"s{self.stored:+d}" if self.kind == "mc" else f"x{self.offset_point:+.4f}"
        return f"{self.scheme}_{self.kind}_{what}_b{self.batch:04d}"

    def seed_sequence(self) -> np.random.SeedSequence:
        # A hash of the job's values (not its index) keys the stream: see the module doc.
        digest = hashlib.sha256(self.random_stream_key.encode()).digest()
        words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
        return np.random.SeedSequence(self.campaign_seed, spawn_key=tuple(words))


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


def plan_jobs(config: CampaignConfig) -> list[Job]:
    jobs = []
    for point in config.points:
        if config.method == "mc":
            groups = [("mc", stored, 0.0) for stored in SCHEME_ALPHABETS[config.scheme]]
        else:
            groups = [("offset", +1, float(offset)) for offset in config.offset_points]
        for kind, stored, offset in groups:
            for batch in range(math.ceil(config.samples / config.batch_size)):
                count = min(config.batch_size, config.samples - batch * config.batch_size)
                jobs.append(Job(point, config.scheme, kind, stored, offset, batch, count, config.seed))
    return jobs


def job_resistances(job: Job, config: CampaignConfig, rng: np.random.Generator) -> np.ndarray:
    """The (BL, BLb) resistances of the job's cells."""
    if job.kind == "mc":
        return config.spread.draw(rng, job.stored, job.count)
    from circuitkit.corners.rare import design_point_resistances

    pair = design_point_resistances(config.spread, job.offset_point)
    return np.tile(pair, (job.count, 1))


def run_job(job: Job, config: CampaignConfig, card: ModelCard | None, simulator: ReadSimulator) -> JobOutcome:
    """Simulate one job; a non-converging run is retried once with tighter tolerances."""
    from circuitkit.spice.runner import SimulationError

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
    from circuitkit.corners.executors import make_executor

    todo = [job for job in jobs if not store.has(job.key)]
    if not todo:
        return 0
    bar = _progress_bar(len(jobs), len(jobs) - len(todo), progress)
    remaining = iter(todo)
    with make_executor(executor, workers, scheduler) as (pool, slots):
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


def count_matrices(results: list[tuple[Job, JobOutcome]]) -> dict[Condition, np.ndarray]:
    """Read counts (stored x read) per condition; failed jobs add no reads (they are
    counted by `condition_summaries`)."""
    counts: dict[Condition, np.ndarray] = {}
    for job, outcome in results:
        alphabet = job.condition.alphabet
        matrix = counts.setdefault(job.condition, np.zeros((len(alphabet), len(alphabet)), dtype=np.int64))
        row = alphabet.index(job.stored)
        for value in outcome.read:
            matrix[row, alphabet.index(value)] += 1
    return counts


def _finite_stats(values: list[float]) -> dict[str, float | int]:
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return {"samples": 0}
    return {"samples": int(data.size), "mean": float(data.mean()), "std": float(data.std(ddof=1)) if data.size > 1 else math.nan,
            "min": float(data.min()), "max": float(data.max())}


def condition_summaries(results: list[tuple[Job, JobOutcome]]) -> list[dict[str, Any]]:
    """Per condition and stored value: sense delay and margin statistics, failures."""
    summary: dict[tuple[Condition, int], dict[str, list]] = {}
    for job, outcome in results:
        entry = summary.setdefault((job.condition, job.stored), {"delay": [], "margin": [], "failed": 0, "elapsed": 0.0})
        entry["elapsed"] += outcome.elapsed_s
        if outcome.status != "ok":
            entry["failed"] += job.count
            continue
        entry["delay"].extend(outcome.delay_s)
        entry["margin"].extend(outcome.margin_v)
    return [
        {**dataclasses.asdict(condition), "stored": stored, "failed_samples": entry["failed"],
         "sense_delay_s": _finite_stats(entry["delay"]), "sense_margin_v": _finite_stats(entry["margin"]),
         "simulation_time_s": entry["elapsed"]}
        for (condition, stored), entry in summary.items()
    ]


@dataclasses.dataclass(frozen=True)
class CampaignResult:
    table: BerTable
    summary: dict[str, Any]
    outdir: Path


def run_campaign(config: CampaignConfig, outdir: Path | str, *, simulator: ReadSimulator, workers: int = 1,
                 executor: str = "process", scheduler: str | None = None, card: ModelCard | None = None,
                 progress: bool = True, log: Callable[[str], None] | None = None) -> CampaignResult:
    """Run (or resume) a campaign into `outdir`: ber_table.csv and campaign.json; every
    read through `simulator`.

    A spread with literature defaults is announced through `log` (default: stderr)."""
    from circuitkit import toolchain
    from circuitkit.corners.spread import announce_spread

    announce_spread(config.spread, log)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tools = toolchain.toolchain()
    simulated_with = simulation_key(card if card is not None else ModelCard.default(), tools.fingerprint())
    _check_or_save_config(config, outdir / "campaign_config.json")
    _check_or_save_simulation_key(simulated_with, outdir / "simulated_with.json", outdir / "samples")
    store = SampleStore(outdir / "samples")
    jobs = plan_jobs(config)
    # Measured here once (and cached) rather than by every worker's first job.
    timings = {f"{vdd:g}": dict(simulator.timing(config.scheme, vdd)) for vdd in config.vdd}
    started = time.perf_counter()
    ran_now = execute(jobs, config, store, simulator, workers=workers, executor=executor, scheduler=scheduler,
                      card=card, progress=progress)
    grouped = collect(jobs, store)
    if config.method == "mc":
        counts = count_matrices(grouped["mc"])
        empty = [f"{c.label()} stored {s}" for c, m in counts.items() for s, row in zip(c.alphabet, m) if row.sum() == 0]
        if empty:
            raise CircuitkitError(
                "every sample failed to converge for " + "; ".join(empty) + f"; see the errors in {store.directory}"
            )
        table = BerTable.from_counts(counts, method="mc")
        rare_fits = []
    else:
        from circuitkit.corners.rare import offset_table

        table, rare_fits = offset_table(grouped["offset"], config)
    table.write(outdir / "ber_table.csv")
    all_results = [item for items in grouped.values() for item in items]
    conditions = condition_summaries(all_results)
    summary = {
        "settings": config.to_dict(),
        "model_card": dict(card.provenance) if card is not None else "defaults of verilog-a/rram_hfox.va",
        "device_spread": config.spread.describe(),
        "toolchain": tools.versions(),
        "simulated_with": simulated_with,
        "read_timing_by_vdd": timings,
        "seed": config.seed,
        "jobs": len(jobs),
        "jobs_run_this_time": ran_now,
        "samples_simulated": sum(job.count for job, _ in all_results),
        "failed_samples": sum(entry["failed_samples"] for entry in conditions),
        "failed_samples_by_condition": [
            {key: entry[key] for key in ("corner", "vdd", "temp_c", "scheme", "stored")} | {"failed": entry["failed_samples"]}
            for entry in conditions
        ],
        "failures": sorted({outcome.error for _, outcome in all_results if outcome.error})[:20],
        "retried_jobs": sum(1 for _, outcome in all_results if outcome.attempts > 1),
        "conditions": conditions,
        "offset_fits": rare_fits,
        "wall_time_s_this_run": time.perf_counter() - started,
        "simulation_time_s_total": sum(outcome.elapsed_s for _, outcome in all_results),
        "workers": workers,
        "executor": executor,
    }
    write_atomic(outdir / "campaign.json", json.dumps(summary, indent=2, default=float) + "\n")
    return CampaignResult(table, summary, outdir)


def simulation_key(card: ModelCard, fingerprint: dict[str, str]) -> dict[str, str]:
    """What the samples of a campaign were simulated with, besides its settings: the model
    card's content hash and the toolchain fingerprint (ngspice, Verilog-A, PDK)."""
    return {"model_card": f"sha256 {hashlib.sha256(card.to_json().encode()).hexdigest()[:16]}", **fingerprint}


_KEY_NAMES = {"model_card": "model card", "ngspice": "ngspice", "verilog_a": "Verilog-A model", "pdk": "PDK"}


def _check_or_save_simulation_key(current: dict[str, str], path: Path, samples: Path) -> None:
    """Refuse to resume samples simulated with another model card or toolchain: one table
    would mix two models. Says which of them changed."""
    if not path.exists():
        if samples.exists() and any(samples.glob("*.json")):
            raise CircuitkitError(
                f"{path.parent} holds samples without a record of the model card and toolchain they were "
                "simulated with (an older circuitkit made them); use another output directory, or delete it "
                "to start over")
        write_atomic(path, json.dumps(current, indent=2) + "\n")
        return
    saved = json.loads(path.read_text())
    changed = [key for key in dict.fromkeys([*saved, *current]) if saved.get(key) != current.get(key)]
    if changed:
        details = "; ".join(f"{_KEY_NAMES.get(key, key)} was {saved.get(key)!r}, now {current.get(key)!r}"
                            for key in changed)
        raise CircuitkitError(
            f"{path.parent} holds samples simulated with another {' and '.join(_KEY_NAMES.get(k, k) for k in changed)} "
            f"({details}); resuming would mix two models in one table: use another output directory, "
            "or delete it to start over")


def _check_or_save_config(config: CampaignConfig, path: Path) -> None:
    """Refuse to mix samples of different settings in one directory."""
    current = config.to_dict()
    if path.exists():
        saved = json.loads(path.read_text())
        differing = sorted(k for k in set(saved) | set(current) if json.dumps(saved.get(k)) != json.dumps(current.get(k)))
        if differing:
            raise CircuitkitError(
                f"{path.parent} holds a campaign with other settings ({', '.join(differing)} differ); "
                "use another output directory, or delete it to start over"
            )
        return
    write_atomic(path, json.dumps(current, indent=2) + "\n")
