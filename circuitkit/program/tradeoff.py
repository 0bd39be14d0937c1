"""From programming condition to bit errors: the energy-versus-BER trade-off table.

For each condition of the sweep (compliance = SET word-line voltage, pulse width, verify on
or off) a programming campaign (`program.campaign`) SETs cells from the fitted HRS in ngspice.
The programmed cells become the campaign's LRS distribution ("programmed with condition X":
`device.distributions.fit_empirical_gpd`, an empirical body with generalized-Pareto tails,
carrying its cell count); the HRS is the distribution card's fitted HRS: no condition
programs the HRS here (the sweep varies the SET compliance; RESET programming is not in the
trade-off yet, though the refitted real card RESETs since issue 15 part C; every row says so).

Read BER per condition, two architectures:

- `mc`, both architectures: the read campaign of `corners` (real PCSA in ngspice with the
  PDK's mismatch) with the programmed states as its `DeviceNonideality`; Clopper-Pearson
  intervals. 2T2R: `PcsaReadSimulator`; 1T1R: `SingleEndedReadSimulator`, each programmed
  cell (LRS) or HRS draw on BL against a reference cell on BLb at the geometric mean of
  the condition's LRS median and the HRS median (`one_t_one_r_reference`, the level the
  offset integral assumes).
- both 2T2R + PCSA and 1T1R single-ended against a reference, `offset-empirical`: the PCSA's
  input-referred offset (probit fit of an ngspice offset campaign at the operating point,
  `corners.rare.fit_offset`) integrated over the programmed cells and the HRS: a cell pair
  with log ratio x = ln(R_BLb / R_BL) reads +1 with probability Phi((x - x0) / sigma). The 1T1R
  cell is read against a reference resistor on BLb at the geometric mean of the condition's
  LRS median and the HRS median (the reference a designer would trim to). The integral runs
  over the programmed cells themselves (no tail beyond them: where the data end, so does the
  estimate) and over `HRS_DRAWS` draws of the HRS model; its 95 % interval is a bootstrap over
  the cells and the offset fit's covariance. This is where `mc` sees nothing.

Energy per bit: the SET energy (every source, every pulse, and the verify reads) of one
programmed LRS device; a 2T2R bit holds one LRS device, a 1T1R bit is LRS half of the time,
so 1T1R = 1/2 and 2T2R = 1 x that energy. RESET energy is not included (see above).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from circuitkit import CircuitkitError
from circuitkit.corners.campaign import run_campaign
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.reads import PcsaReadSimulator, SingleEndedReadSimulator
from circuitkit.device.distributions import MIN_CELLS_EMPIRICAL, Distribution, fit_empirical_gpd
from circuitkit.device.model import ModelCard
from circuitkit.device.nonideality import CHOSEN, SUMMARY, DeviceNonideality, ProgrammedStates
from circuitkit.files import write_json, write_rows_csv
from circuitkit.netlist.pcsa import SingleEndedReference
from circuitkit.netlist.programming import ProgrammingPulse
from circuitkit.operating import Corner, OperatingPoint
from circuitkit.mlc.campaign import cards_or_bundled
from circuitkit.program.campaign import ProgramConfig, run_program_campaign
from circuitkit.program.verify import VerifyScheme
from circuitkit.sense_offset import OffsetFit
from circuitkit.seeding import value_seed
from circuitkit.stats import binomial_interval

Log = Callable[[str], None]
HRS_DRAWS = 4096
BOOTSTRAP = 200
ARCHITECTURES = ("1t1r", "2t2r")
OFFSET_METHOD = "offset-empirical"


@dataclasses.dataclass(frozen=True)
class TradeoffConfig:
    """The sweep (compliance x width x verify) and what every condition shares."""

    v_wl: tuple[float, ...] = (1.0, 1.4)
    width: tuple[float, ...] = (1e-6,)
    verify: tuple[bool, ...] = (False, True)
    set_amplitude: float = 2.0
    target_ohm: float = 20e3
    max_pulses: int = 6
    step_v_wl: float = 0.1
    cells: int = 384
    batch_size: int = 64
    read_samples: int = 128      # mc reads per stored weight, condition and architecture (2T2R, 1T1R)
    offset_samples: int = 32     # reads per offset point of the one offset fit
    networks: tuple[str, ...] = ("bnn-fc", "bnn-conv")  # bundled binary networks evaluated at each point
    trials: int = 10             # corrupted copies per network and point
    corner: str = "tt"
    vdd: float = 1.8
    temp_c: float = 27.0
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("v_wl", "width", "verify", "networks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
            if not getattr(self, name) and name != "networks":
                raise CircuitkitError(f"TradeoffConfig: {name}: expected at least one value")
        if isinstance(self.cells, bool) or not isinstance(self.cells, int) or self.cells < MIN_CELLS_EMPIRICAL:
            raise CircuitkitError(f"TradeoffConfig: cells={self.cells!r}: each condition's programmed distribution "
                                  f"(empirical body + GPD tails, `fit_empirical_gpd`) needs at least "
                                  f"{MIN_CELLS_EMPIRICAL} cells")

    @property
    def point(self) -> OperatingPoint:
        return OperatingPoint(Corner.parse(self.corner), self.vdd, self.temp_c)

    def schemes(self) -> list[tuple[str, VerifyScheme]]:
        """(label, scheme) of every condition of the sweep."""
        out = []
        for v_wl, width, verify in itertools.product(self.v_wl, self.width, self.verify):
            first = ProgrammingPulse("set", v_wl, self.set_amplitude, width)
            label = f"wl{v_wl:g}_w{width:g}_{'verify' if verify else 'single'}"
            out.append((label, VerifyScheme(first, self.target_ohm, self.max_pulses, step_v_wl=self.step_v_wl,
                                            verify=verify)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Tradeoff:
    rows: list[dict[str, Any]]
    offset_fit: OffsetFit
    programmed: dict[str, np.ndarray]  # condition -> programmed LRS resistances (ohm)
    outdir: Path


def programmed_states(r_programmed: np.ndarray, hrs: Distribution, label: str) -> ProgrammedStates:
    """The campaign's device distribution for cells programmed with condition `label`; `hrs`:
    the distribution card's fitted HRS (no condition programs it: fitted once per sweep)."""
    lrs = fit_empirical_gpd(r_programmed)
    return ProgrammedStates(lrs, hrs, source=f"LRS programmed with {label} ({r_programmed.size} cells, empirical "
                                             "body + GPD tails); HRS fitted (distribution card)")


def offset_fit(config: TradeoffConfig, start_card: ModelCard, pulse_card: ModelCard, outdir: Path,
               log: Log | None) -> tuple[OffsetFit, int]:
    """The PCSA's input-referred offset at the operating point (ngspice offset campaign, at
    the design point of the card's lognormal states)."""
    states = ProgrammedStates.from_model_card(start_card, SUMMARY)
    campaign = CampaignConfig(corners=(config.point.corner,), vdd=(config.vdd,), temp_c=(config.temp_c,),
                              samples=config.offset_samples, seed=config.seed, method="offset",
                              device=DeviceNonideality(states))
    result = run_campaign(campaign, outdir, simulator=PcsaReadSimulator(), card=pulse_card, progress=False, log=log)
    fit = OffsetFit.from_dict(result.summary["offset_fits"][0])
    return fit, int(fit.trials.sum())


def one_t_one_r_reference(lrs: np.ndarray, hrs: np.ndarray) -> SingleEndedReference:
    """The 1T1R read's reference: the geometric mean of the LRS and HRS medians."""
    return SingleEndedReference.between(float(np.median(lrs)), float(np.median(hrs)))


def offset_ber(fit: OffsetFit, lrs: np.ndarray, hrs: np.ndarray, architecture: str,
               rng: np.random.Generator | None = None) -> tuple[float, float, float, dict[int, float]]:
    """P(misread) averaged over stored +1 and -1 (estimate, 95 % low, high) and per stored
    value: the probit offset integrated over the cells (see the module doc); the interval by
    bootstrap."""

    def ber(lrs, hrs, x0, sigma):
        if architecture == "2t2r":  # +1: BL = LRS, BLb = HRS; -1 the mirror image
            x = np.log(hrs)[None, :] - np.log(lrs)[:, None]
            plus, minus = special.ndtr((x0 - x) / sigma).mean(), special.ndtr((-x - x0) / sigma).mean()
        elif architecture == "1t1r":  # the cell on BL, the reference on BLb
            reference = one_t_one_r_reference(lrs, hrs).ohm
            plus = special.ndtr((x0 - np.log(reference / lrs)) / sigma).mean()
            minus = special.ndtr((np.log(reference / hrs) - x0) / sigma).mean()
        else:
            raise CircuitkitError(f"architecture {architecture!r}: expected one of {', '.join(ARCHITECTURES)}")
        return float(plus), float(minus)

    plus, minus = ber(lrs, hrs, fit.x0, fit.sigma)
    estimate, by_stored = 0.5 * (plus + minus), {+1: plus, -1: minus}
    if rng is None:
        return estimate, math.nan, math.nan, by_stored
    replicas = []
    for _ in range(BOOTSTRAP):
        x0, sigma = rng.multivariate_normal([fit.x0, fit.sigma], fit.covariance)
        replicas.append(np.mean(ber(rng.choice(lrs, lrs.size), rng.choice(hrs, hrs.size), x0, max(sigma, 1e-6))))
    low, high = np.quantile(replicas, [0.025, 0.975])
    return estimate, float(min(low, estimate)), float(max(high, estimate)), by_stored


def run_tradeoff(config: TradeoffConfig, outdir: Path | str, *, pulse_card: ModelCard | None = None,
                 start_card: ModelCard | None = None, log: Log | None = print) -> Tradeoff:
    """Every condition: program, then read (see the module doc); `tradeoff.csv` and `tradeoff.json`."""
    outdir = Path(outdir)
    pulse_card, start_card, fallbacks = cards_or_bundled(pulse_card, start_card, log)
    fit, offset_reads = offset_fit(config, start_card, pulse_card, outdir / "offset", log)
    hrs_model = ProgrammedStates.from_model_card(start_card, CHOSEN).hrs
    hrs = hrs_model.sample(np.random.Generator(np.random.PCG64(value_seed(config.seed, "tradeoff", "hrs"))), HRS_DRAWS)
    rows, programmed = [], {}
    for label, scheme in config.schemes():
        program = run_program_campaign(
            ProgramConfig(scheme, cells=config.cells, batch_size=config.batch_size, seed=config.seed),
            outdir / label / "program", pulse_card=pulse_card, start_card=start_card, log=log)
        outcome, summary = program.outcome, program.summary
        programmed[label] = outcome.r_final
        states = programmed_states(outcome.r_final, hrs_model, label)
        read_config = CampaignConfig(corners=(config.point.corner,), vdd=(config.vdd,), temp_c=(config.temp_c,),
                                     samples=config.read_samples, seed=config.seed, device=DeviceNonideality(states))
        reference = one_t_one_r_reference(outcome.r_final, hrs)
        mc, mc_reads = {}, {}
        for architecture, simulator in (("2t2r", PcsaReadSimulator()), ("1t1r", SingleEndedReadSimulator(reference=reference))):
            read = run_campaign(read_config, outdir / label / f"read_{architecture}", simulator=simulator,
                                card=pulse_card, progress=False, log=log)
            errors = sum(r.count for r in read.table.rows if r.stored != r.read)
            mc_reads[architecture] = sum(r.count for r in read.table.rows)
            mc[architecture] = binomial_interval(errors, mc_reads[architecture])
        energy = summary["energy_per_cell_j"]
        failure = summary["write_failure"]
        base = {"condition": label, "v_wl": scheme.first.v_wl, "width_s": scheme.first.width,
                "verify": scheme.verify, "cells": outcome.passed.size, "pulses_mean": summary["pulses_mean"],
                "write_failure": failure["fraction"], "write_failure_ci_low": failure["ci_low"],
                "write_failure_ci_high": failure["ci_high"],
                "lrs_median_ohm": float(np.median(outcome.r_final)), "reference_1t1r_ohm": reference.ohm,
                "sigma_ln_lrs": summary["sigma_ln_programmed"]}
        rng = np.random.Generator(np.random.PCG64(value_seed(config.seed, "tradeoff", label)))
        for architecture in ARCHITECTURES:
            share = 1.0 if architecture == "2t2r" else 0.5
            estimate, low, high, by_stored = offset_ber(fit, outcome.r_final, hrs, architecture, rng)
            row = {**base, "architecture": architecture, "ber_stored_plus": by_stored[+1],
                   "ber_stored_minus": by_stored[-1], "energy_per_bit_j": share * energy["mean"],
                   "energy_per_bit_j_ci_low": share * energy["ci_low"], "energy_per_bit_j_ci_high": share * energy["ci_high"],
                   "ber": estimate, "ber_ci_low": low, "ber_ci_high": high, "ber_method": OFFSET_METHOD,
                   "ber_reads": offset_reads, "ber_mc": mc[architecture].estimate, "ber_mc_ci_low": mc[architecture].low,
                   "ber_mc_ci_high": mc[architecture].high, "ber_mc_reads": mc_reads[architecture]}
            rows.append(row)
        if log:
            log(f"tradeoff {label}: {energy['mean'] * 1e12:.1f} pJ per SET, write failures {failure['fraction']:.1%}, "
                + ", ".join(f"{a.upper()} mc BER {mc[a].estimate:.2%} [{mc[a].low:.2%}, {mc[a].high:.2%}] of "
                            f"{mc_reads[a]} reads" for a in ("2t2r", "1t1r"))
                + f" (1T1R reference cell {reference.ohm:.4g} ohm)")
    network_accuracy(rows, config.networks, config.trials, config.seed)
    write_rows_csv(outdir / "tradeoff.csv", rows)
    write_json(outdir / "tradeoff.json", {
        "settings": config.to_dict(), "fallbacks": list(fallbacks), "offset_fit": fit.to_dict(),
        "offset_reads": offset_reads,
        "hrs": f"distribution card's fitted HRS ({hrs_model.kind}), {HRS_DRAWS} draws in the offset integral",
        "energy": "SET energy per programmed LRS device (ngspice, every source, pulses and verify reads) x 1 (2T2R) "
                  "or x 1/2 (1T1R); RESET not included (the sweep programs the LRS only; the HRS is the card's fitted population)",
        "methods": {"mc": "read campaign in ngspice (corners) with the PDK's mismatch, Clopper-Pearson 95 %: 2T2R + "
                          "PCSA; 1T1R cell single-ended against a reference cell (reference_1t1r_ohm: geometric mean "
                          "of the condition's LRS median and the HRS median) through the same PCSA",
                    OFFSET_METHOD: "probit-fitted PCSA offset integrated over the programmed cells and the HRS draws; "
                                   f"95 % bootstrap ({BOOTSTRAP}) over cells and the fit's covariance; no tail beyond "
                                   "the programmed cells; 1T1R against a reference at the geometric mean of the medians"},
        "accuracy": f"bundled binary networks on the MNIST 5k test images, {config.trials} corrupted copies per point "
                    "(weights misread with the row's per-stored-value BER of the offset integral; Student-t 95 %)",
        "rows": rows})
    return Tradeoff(rows, fit, programmed, outdir)


def network_accuracy(rows: list[dict[str, Any]], networks, trials: int, seed: int) -> None:
    """Add each bundled network's accuracy (mean and 95 % interval over `trials` corrupted
    copies) at every row's error rates: `accuracy_<network>`, `..._ci_low`, `..._ci_high`,
    and the clean accuracy `accuracy_<network>_clean`."""
    if not networks:
        return
    from circuitkit.ber_table import BerTable, Condition
    from circuitkit.inject.accuracy import trial_accuracies
    from circuitkit.inject.data import load_mnist5k
    from circuitkit.inject.networks import load_network
    from circuitkit.stats import mean_interval

    dataset = load_mnist5k()
    for name in networks:
        network = load_network(name)
        clean = float(np.mean(network.predict(dataset.x_test) == dataset.y_test))
        for row in rows:
            condition = Condition(f"{row['condition']}-{row['architecture']}", 0.0, 0.0, "binary")
            plus, minus = row["ber_stored_plus"], row["ber_stored_minus"]
            matrix = BerTable.from_probabilities({condition: [[1 - minus, minus], [plus, 1 - plus]]}) \
                .transition_matrix(condition)
            accuracy = mean_interval(trial_accuracies(network, dataset.x_test, dataset.y_test, matrix, trials,
                                                      value_seed(seed, "accuracy", name, row["condition"],
                                                                 row["architecture"])))
            row |= {f"accuracy_{name}": accuracy.mean, f"accuracy_{name}_ci_low": accuracy.low,
                    f"accuracy_{name}_ci_high": accuracy.high, f"accuracy_{name}_clean": clean}
