"""Program-and-verify Monte Carlo over many cells in ngspice: batched, checkpointed, resumable.

The cells are split into batches of `batch_size` (one deck per pulse step holds a batch's
unverified cells). Batch b draws its starting states and every per-pulse random number from
the stream `circuitkit.seeding.keyed_seed(seed, "program/batch/<b>")`: named by value, so a
resumed campaign equals an uninterrupted one. Each finished batch is written atomically
(`samples/batch_<b>.npz`, `mlc.campaign.save_batch`); a killed campaign resumes where it
stopped, and a directory holding another configuration or model card is refused.

Starting states (device-to-device): a SET or forming campaign starts from the distribution
card's fitted HRS (a forming one from the virgin gap, `netlist.programming.virgin_gap`), a
RESET campaign from its fitted LRS. Per pulse: the pulse model's rate-scale draw, landing
spread and verify-read noise (`program.verify`).

Outputs: `cells.csv` (per cell: start, programmed state, last verify read, ngspice's read,
pulses, energies, passed) and `summary.json` (settings, cards and any bundled-card fallback,
write-failure rate with its Clopper-Pearson interval, energy per cell with a Student-t
interval, quantiles of the programmed state, cells per second).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.access import AccessTransistor
from circuitkit.device.model import ModelCard
from circuitkit.device.pulse import PulseModel
from circuitkit.files import write_json, write_rows_csv
from circuitkit.mlc.campaign import card_digest, cards_or_bundled, check_or_save_key, load_batch, save_batch
from circuitkit.netlist.programming import Operation, virgin_gap
from circuitkit.program.verify import VerifyOutcome, VerifyScheme, program_and_verify
from circuitkit.seeding import keyed_seed
from circuitkit.stats import binomial_interval, mean_interval

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class ProgramConfig:
    """Everything that decides a programming campaign's numbers (saved as program_config.json)."""

    scheme: VerifyScheme
    cells: int = 128
    batch_size: int = 64
    seed: int = 1
    transistor: AccessTransistor | None = None  # None: the pulse card's access transistor

    def __post_init__(self) -> None:
        for name in ("cells", "batch_size", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CircuitkitError(f"ProgramConfig: {name}={value!r}: expected an integer >= 1")

    @property
    def batches(self) -> int:
        return math.ceil(self.cells / self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme.to_dict(), "cells": self.cells, "batch_size": self.batch_size, "seed": self.seed,
                "transistor": None if self.transistor is None else self.transistor.to_dict()}


@dataclasses.dataclass
class ProgramCampaign:
    config: ProgramConfig
    outcome: VerifyOutcome
    summary: dict[str, Any]
    outdir: Path


def starting_states(scheme: VerifyScheme, model: PulseModel, start_card: ModelCard, rng: np.random.Generator,
                    count: int) -> np.ndarray:
    """Resistance (ohm) of each cell before programming (see the module doc)."""
    operation = scheme.first.operation
    if operation is Operation.FORM:
        return np.full(count, float(model.resistance(virgin_gap(model.card))))
    return start_card.distribution("HRS" if operation is Operation.SET else "LRS").sample(rng, count)


def batch_generator(seed: int, batch: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(keyed_seed(seed, f"program/batch/{batch}")))


def run_program_campaign(config: ProgramConfig, outdir: Path | str, *, pulse_card: ModelCard | None = None,
                         start_card: ModelCard | None = None, log: Log | None = print) -> ProgramCampaign:
    """Run (or resume) a program-and-verify campaign into `outdir`."""
    outdir = Path(outdir)
    pulse_card, start_card, fallbacks = cards_or_bundled(pulse_card, start_card, log)
    model = PulseModel.from_card(pulse_card)
    transistor = config.transistor or model.transistor
    key = {"config": config.to_dict(), "pulse_card": card_digest(pulse_card), "start_card": card_digest(start_card)}
    check_or_save_key(outdir / "program_config.json", key, "programming campaign")
    samples = outdir / "samples"
    started = time.perf_counter()
    cells_run = 0
    for batch in range(config.batches):
        path = samples / f"batch_{batch:04d}.npz"
        if path.exists():
            continue
        count = min(config.batch_size, config.cells - batch * config.batch_size)
        rng = batch_generator(config.seed, batch)
        r_start = starting_states(config.scheme, model, start_card, rng, count)
        outcome = program_and_verify(model, config.scheme, r_start, rng, transistor=transistor, log=log,
                                     name=f"batch_{batch:04d}")
        save_batch(path, outcome.to_arrays())
        cells_run += count
    elapsed = time.perf_counter() - started
    outcome = VerifyOutcome.concatenate([VerifyOutcome.from_arrays(load_batch(samples / f"batch_{b:04d}.npz"))
                                         for b in range(config.batches)])
    summary = summarize(outcome, config, transistor)
    summary |= {"pulse_card": key["pulse_card"], "pulse_model_card": dict(pulse_card.provenance),
                "start_card": key["start_card"], "fallbacks": list(fallbacks), "wall_time_s_this_run": elapsed,
                "cells_per_second": cells_run / elapsed if cells_run and elapsed > 0 else None}
    columns = outcome.to_arrays()   # once: asdict copies every array
    write_rows_csv(outdir / "cells.csv", [dict(zip(columns, values)) for values in
                                          zip(*(a.tolist() for a in columns.values()))])
    write_json(outdir / "summary.json", summary)
    if log:
        failure = summary["write_failure"]
        log(f"program: {config.cells} cells, {config.scheme.describe()}: write failures {failure['count']} "
            f"({failure['fraction']:.1%} [{failure['ci_low']:.1%}, {failure['ci_high']:.1%}]), "
            f"{outcome.pulses.mean():.2f} pulses and {summary['energy_per_cell_j']['mean'] * 1e12:.1f} pJ per cell")
    return ProgramCampaign(config, outcome, summary, outdir)


def summarize(outcome: VerifyOutcome, config: ProgramConfig, transistor: AccessTransistor) -> dict[str, Any]:
    """Totals with their intervals (what `summary.json` and the trade-off table hold)."""
    n = outcome.passed.size
    failures = int(n - outcome.passed.sum())
    failure = binomial_interval(failures, n)
    energy = mean_interval(outcome.pulse_energy_j + outcome.read_energy_j)
    pulse_energy = mean_interval(outcome.pulse_energy_j)
    quantiles = (0.01, 0.1, 0.5, 0.9, 0.99)
    return {
        "settings": config.to_dict(), "scheme": config.scheme.describe(), "transistor": transistor.describe(),
        "cells": n,
        "write_failure": {"count": failures, "fraction": failures / n, "ci_low": failure.low, "ci_high": failure.high,
                          "meaning": "no verify read met the target within the budget (without verify: the one "
                                     "read after the single pulse missed it)", "interval": "Clopper-Pearson 95 %"},
        "energy_per_cell_j": {"mean": energy.mean, "ci_low": energy.low, "ci_high": energy.high,
                              "pulse_mean": pulse_energy.mean, "interval": "Student-t 95 % over cells",
                              "method": "ngspice: -integral v i dt of every source (word line, bit line, source line) "
                                        "over each pulse, plus each verify read's read phase"},
        "pulses_mean": float(outcome.pulses.mean()),
        "programmed_ohm_quantiles": {f"{q:g}": float(np.quantile(outcome.r_final, q)) for q in quantiles},
        "sigma_ln_programmed": float(np.std(np.log(outcome.r_final), ddof=1)) if n > 1 else None,
        "random_parts": "ngspice: gap motion with the pulse card's per-pulse rate_scale draw; Python: landing spread "
                        "and verify-read noise of the pulse card (program/verify.py)",
    }
