"""Characterize the IF neuron and the RRAM synapse read with ngspice into the table the
SNN simulator reads (`circuitkit.snn.table`).

The circuit is the IF neuron of `circuitkit.netlist.neuron.if_neuron` (regulated RRAM read
at <= 100 mV, current mirrors into / out of a 200 fF membrane, two comparators, spike
and refractory timers). Every run is a `NeuronBench`; this module only hands it
additional lines (supply-charge integrals, an ideal charge-packet source on the
membrane), measures with `bench.measure`, and runs two stages of transients:

    stage 1         synapses (ohm at 0.1 V)        what it gives
    bal_lrs/hrs     positive R = negative R        copied read current of one cell per state and
                                                   polarity; supply power of reading it
    bal_idle        both ~4 Mohm                   supply power of the idle neuron (biases, comparators)
    pos/neg_lrs     one LRS synapse                the fastest spiking (refractory-limited), refractory time
    pkt_<f>         idle + charge packets          spikes per input spike vs charge per input spike;
                                                   energy per output spike
    stage 2 (resistances chosen from the stage-1 currents)
    pos/neg_<R>     one synapse                    steady-current transfer at spike periods of about 2.5
                                                   and 5 refractory times: charge to threshold
    mc_pos/neg_<s>  one synapse, mismatch on       threshold-charge spread (seeded Monte Carlo)

Derived numbers (every one SI, stored with the toolchain versions):

- charge to threshold Q_th and the fixed delay t0 of each polarity: with a steady current
  I the spike period is t0 + Q_th / I when the refractory time does not limit it, a line
  in 1/I through the stage-2 transfer runs;
- refractory time: median measured width of the refractory pulse;
- threshold spread: relative standard deviation of I (T - t0) over the mismatch samples,
  the larger of the two polarities;
- read current per cell state and polarity: the copied current at the LRS and HRS medians
  of the device's programmed states (`device.nonideality.DeviceNonideality`: the model
  card's fitted variability, or the literature defaults, announced and recorded as
  such); its log-sigma is the resistance log-sigma times the measured sensitivity
  |d ln I / d ln R| between LRS and HRS; the read noise is the device's (default: an
  assumed 2 %, recorded as an assumption);
- read pulse t_read: the design choice that a nominal weight of +-4 (4 LRS cells against
  4 HRS cells) delivers `WEIGHT4_MARGIN` (1.1) times the threshold charge, so it makes
  one spike per input spike (the reference's rule) with 10 % margin for spread;
- energies: idle power from bal_idle; one output spike from the supply energy of the
  packet runs beyond the idle power, per spike; the read power of one cell in LRS / HRS
  from (bal - idle - spikes x spike energy / time) / 2, times t_read per read.

Regenerate all the bundled tables (tt, ss, ff, sf, fs at 1.8 V, 27 C; about 30 s per
corner on 2 cores) with the one command

    python -m circuitkit.snn.characterize --bundled

which runs, and records in each table, the per-corner command
`python -m circuitkit.snn.characterize --corner tt -o circuitkit/snn/data/characterization_tt.json`.
`tests/test_snn_characterize.py` checks that the bundled tables are what these commands
make with the current code, default spread and toolchain.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import math
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from circuitkit import CircuitkitError, __version__
from circuitkit.argtypes import add_operating_point_options, operating_point
from circuitkit.device.model import ModelCard
from circuitkit.device.nonideality import DeviceNonideality, ProgrammedStates, ReadNoise, device_nonideality
from circuitkit.netlist.neuron import NeuronBench, NeuronParams, if_neuron
from circuitkit.operating import OperatingPoint
from circuitkit.snn.table import CharacterizationTable, NeuronCharacteristics, SynapseCharacteristics
from circuitkit.spice.runner import SimResult, run_batch
from circuitkit.toolchain import toolchain

# Mismatch samples per polarity for the threshold spread: >= 100 so that the spread the
# SNN draws is known to about +-13 % (chi-square 95 % interval), not a factor of 2.
DEFAULT_MC_SAMPLES = 128
# Cycle-to-cycle read noise of a cell (relative, 1 sigma): the device's; by default the
# assumed `ReadNoise.assumed()` (the compact model has none), stored in the table.
DEFAULT_READ_NOISE_REL = ReadNoise.ASSUMED
WEIGHT4_MARGIN = 1.1
IDLE_OHM = 3e6  # "no cell": about 33 nA at 0.1 V, inside the default card's bounds (gmax reads 3.8 Mohm)
START_S = 20e-9  # spikes and energy are counted from here on (start-up transients before)


class CharacterizationError(CircuitkitError):
    """The neuron did not behave as the characterization needs (no spikes, wrong polarity...)."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One transient (its bench) and what it is for."""

    name: str
    bench: NeuronBench
    role: str  # balanced, idle, transfer, packet, mc
    polarity: int = 1
    resistance: float = math.nan
    window: tuple[float, float] = (START_S, math.nan)  # where spikes and supply energy are counted
    charge: float = math.nan  # packet runs: charge per input spike (C)
    packets: int = 0

    @property
    def netlist(self) -> str:
        return self.bench.to_netlist()


@dataclasses.dataclass(frozen=True)
class Measured:
    """What one run showed, with start-up spikes (before the window) left out."""

    job: Job
    spikes_pos: np.ndarray
    spikes_neg: np.ndarray
    current_pos: float  # mean copied current into the membrane (A), NaN without a positive synapse
    current_neg: float  # mean copied current out of it (A), NaN without a negative synapse
    energy: float  # supply energy over the window (J), NaN if not measured
    refractory_widths: tuple[float, ...]
    read_voltage: float  # largest voltage across a synaptic cell after start-up (V)

    def spikes(self, polarity: int) -> np.ndarray:
        return self.spikes_pos if polarity > 0 else self.spikes_neg

    def period(self, polarity: int) -> float:
        """Mean interval between spikes of a polarity (NaN with fewer than three: the
        first interval from rest is left out, it starts from an unreset membrane)."""
        times = self.spikes(polarity)
        return float(np.mean(np.diff(times[1:]))) if times.size >= 3 else math.nan

    @property
    def duration(self) -> float:
        return self.job.window[1] - self.job.window[0]


def _energy_lines(window: tuple[float, float]) -> list[str]:
    return [".save i(vdd)", f".meas tran q_vdd integ i(vdd) from={window[0]:.6g} to={window[1]:.6g}"]


@dataclasses.dataclass(frozen=True)
class _Bench:
    """Builds the jobs of one operating point / neuron / RRAM card."""

    supply: OperatingPoint
    params: NeuronParams
    card: ModelCard

    def bench(self, t_stop: float, r_positive: float | None, r_negative: float | None,
              *, seed: int | None = None, mismatch: bool = False, extra: Sequence[str] = ()) -> NeuronBench:
        additions = [*extra, *_energy_lines((START_S, t_stop))] if not mismatch else list(extra)
        return if_neuron(r_positive, r_negative, point=self.supply, mismatch=mismatch, params=self.params,
                         card=self.card, t_stop=t_stop,
                         # a tenth of the spike width, the shortest event timed here
                         t_step=min(self.params.t_spike / 10, 500e-12),
                         options={"seed": seed} if seed is not None else None,
                         additions=tuple(additions), added_by="circuitkit.snn.characterize")

    def job(self, name: str, role: str, t_stop: float, r_positive: float | None, r_negative: float | None,
            **fields: Any) -> Job:
        mismatch, seed, extra = fields.pop("mismatch", False), fields.pop("seed", None), fields.pop("extra", ())
        t_stop = max(t_stop, 2.05 * self.params.t_refractory)
        return Job(name, self.bench(t_stop, r_positive, r_negative, seed=seed, mismatch=mismatch, extra=extra),
                   role, window=(START_S, t_stop), **fields)


def stage1(bench: _Bench, states: ProgrammedStates) -> list[Job]:
    """Read currents and powers, the refractory-limited rate, charge packets."""
    p = bench.params
    r_lrs, r_hrs = states.lrs.median, states.hrs.median
    balanced_stop = START_S + max(80e-9, 2.5 * p.t_refractory)
    jobs = [bench.job(name, "balanced" if name != "bal_idle" else "idle", balanced_stop, r, r, resistance=r, polarity=0)
            for name, r in (("bal_lrs", r_lrs), ("bal_hrs", r_hrs), ("bal_idle", IDLE_OHM))]
    fast_stop = START_S + 6 * p.t_refractory
    jobs.append(bench.job("pos_lrs", "transfer", fast_stop, r_lrs, None, resistance=r_lrs, polarity=1))
    jobs.append(bench.job("neg_lrs", "transfer", fast_stop, None, r_lrs, resistance=r_lrs, polarity=-1))
    # Charge packets on the membrane (idle synapses), one input spike every `period`.
    period, width, packets = 1.5 * p.t_refractory + p.t_spike, 2e-9, 6
    q_design = p.c_mem * p.v_th
    for fraction in (0.55, 1.15):
        charge = fraction * q_design
        source = f"Ipkt 0 vmem PULSE(0 {charge / width:.6g} {START_S:.6g} 50p 50p {width - 50e-12:.6g} {period:.6g})"
        jobs.append(bench.job(f"pkt_{fraction:g}", "packet", START_S + packets * period, IDLE_OHM, IDLE_OHM,
                              extra=[source], charge=charge, packets=packets, resistance=IDLE_OHM))
    return jobs


@dataclasses.dataclass(frozen=True)
class _ReadPath:
    """Copied current vs cell resistance of one polarity: I = i_lrs (r_lrs / R)^s."""

    r_lrs: float
    i_lrs: float
    sensitivity: float

    def resistance_for(self, current: float) -> float:
        return self.r_lrs * (self.i_lrs / current) ** (1 / self.sensitivity)


def _read_paths(measured: Sequence[Measured], states: ProgrammedStates) -> dict[int, _ReadPath]:
    balanced = {m.job.resistance: m for m in measured if m.job.role == "balanced"}
    r_lrs, r_hrs = states.lrs.median, states.hrs.median
    paths = {}
    for polarity, attribute in ((+1, "current_pos"), (-1, "current_neg")):
        i_lrs, i_hrs = (getattr(balanced[r], attribute) for r in (r_lrs, r_hrs))
        if not (i_lrs > i_hrs > 0):
            raise CharacterizationError(f"{'positive' if polarity > 0 else 'negative'} read path copies "
                                        f"{i_lrs:.3g} A from LRS and {i_hrs:.3g} A from HRS; expected LRS > HRS > 0")
        paths[polarity] = _ReadPath(r_lrs, i_lrs, math.log(i_lrs / i_hrs) / math.log(r_hrs / r_lrs))
    return paths


def stage2(bench: _Bench, paths: dict[int, _ReadPath], mc_samples: int) -> list[Job]:
    """Transfer runs free of the refractory limit, and the mismatch Monte Carlo."""
    p = bench.params
    q_design = p.c_mem * p.v_th
    jobs = []

    def synapses(polarity: int, resistance: float) -> tuple[float | None, float | None]:
        return (resistance, None) if polarity > 0 else (None, resistance)

    for polarity, path in paths.items():
        tag = "pos" if polarity > 0 else "neg"
        for multiple in (2.5, 5.0):
            period = multiple * p.t_refractory
            resistance = path.resistance_for(q_design / (period - p.t_spike))
            jobs.append(bench.job(f"{tag}_{resistance:.0f}", "transfer", START_S + 4.3 * period,
                                  *synapses(polarity, resistance), resistance=resistance, polarity=polarity))
        period = 2.5 * p.t_refractory
        resistance = path.resistance_for(q_design / (period - p.t_spike))
        for sample in range(1, mc_samples + 1):
            jobs.append(bench.job(f"mc_{tag}_{sample}", "mc", START_S + 4.3 * period, *synapses(polarity, resistance),
                                  mismatch=True, seed=sample, resistance=resistance, polarity=polarity))
    return jobs


def run_jobs(jobs: Sequence[Job], workers: int | None = None) -> list[SimResult]:
    """ngspice runs (one subprocess each), `workers` at a time, results in job order."""
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: run_batch(job.netlist, name=job.name), jobs))


def measure(job: Job, result: SimResult, vdd: float) -> Measured:
    spikes = job.bench.measure(result)
    start, stop = job.window

    def inside(times: Sequence[float]) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        return times[(times >= start) & (times < stop)]

    q_vdd = result.measures.get("q_vdd", math.nan)
    return Measured(
        job, inside(spikes.positive_s), inside(spikes.negative_s),
        abs(result.measures.get("i_p", math.nan)), abs(result.measures.get("i_n", math.nan)),
        -q_vdd * vdd,  # i(vdd) is negative while the supply delivers charge
        tuple(end - begin for begin, end in spikes.refractory_windows if start <= begin and end < stop),
        spikes.read_voltage_v,
    )


def analyse(
    measured: Sequence[Measured],
    supply: OperatingPoint,
    device: DeviceNonideality,
    params: NeuronParams,
    *,
    provenance: dict[str, Any] | None = None,
) -> CharacterizationTable:
    """Turn the measured runs of both stages into a characterization table of `device`
    (its programmed states' medians and spread, its read noise)."""
    states = device.states
    widths = [w for m in measured if m.job.role == "transfer" for w in m.refractory_widths]
    if not widths:
        raise CharacterizationError("no complete refractory pulse was measured")
    # Median: a neuron driven far past its maximum rate keeps the timer retriggered.
    t_refractory = float(np.median(widths))

    transfer: list[dict[str, Any]] = []
    fits: dict[int, tuple[float, float]] = {}
    for polarity in (+1, -1):
        points = []
        for m in measured:
            if m.job.role != "transfer" or m.job.polarity != polarity:
                continue
            wrong = m.spikes(-polarity)
            if wrong.size:
                raise CharacterizationError(f"run {m.job.name}: {wrong.size} spike(s) of the wrong polarity "
                                            f"after {START_S:g} s")
            current = m.current_pos if polarity > 0 else m.current_neg
            period = m.period(polarity)
            transfer.append({"quantity": "steady_current_a", "input": current, "polarity": polarity,
                             "output_rate_hz": 1 / period if math.isfinite(period) else 0.0,
                             "resistance_ohm": m.job.resistance, "spikes": int(m.spikes(polarity).size)})
            if math.isfinite(period) and period > 1.5 * t_refractory:
                points.append((1.0 / current, period))
        if len(points) < 2:
            raise CharacterizationError(f"fewer than two {'positive' if polarity > 0 else 'negative'} transfer runs "
                                        "spiked 3+ times below the refractory limit: cannot fit the charge to threshold")
        slope, intercept = np.polyfit(*np.array(points).T, 1)
        fits[polarity] = (float(slope), float(intercept))

    spreads = {}
    for polarity in (+1, -1):
        charges = [(m.current_pos if polarity > 0 else m.current_neg) * (m.period(polarity) - fits[polarity][1])
                   for m in measured if m.job.role == "mc" and m.job.polarity == polarity]
        charges = [q for q in charges if math.isfinite(q)]
        if len(charges) < 2:
            raise CharacterizationError("fewer than two Monte Carlo samples spiked 3+ times")
        spreads[polarity] = float(np.std(charges, ddof=1) / np.mean(charges))

    idle = next(m for m in measured if m.job.role == "idle")
    p_idle = idle.energy / idle.duration
    spike_energy = []
    for m in measured:
        if m.job.role == "packet":
            transfer.append({"quantity": "charge_per_input_spike_c", "input": m.job.charge, "polarity": 1,
                             "output_spikes_per_input_spike": m.spikes_pos.size / m.job.packets,
                             "spikes": int(m.spikes_pos.size), "input_spikes": m.job.packets})
            if m.spikes_pos.size:
                spike_energy.append((m.energy - p_idle * m.duration) / m.spikes_pos.size)
    e_spike = float(np.mean(spike_energy)) if spike_energy else 0.0
    cell_power = {}
    for m in measured:
        if m.job.role == "balanced":
            spikes = m.spikes_pos.size + m.spikes_neg.size
            cell_power[m.job.resistance] = (m.energy - p_idle * m.duration - spikes * e_spike) / m.duration / 2

    paths = _read_paths(measured, states)
    r_lrs, r_hrs = states.lrs.median, states.hrs.median
    i_lrs = {pol: path.i_lrs for pol, path in paths.items()}
    i_hrs = {pol: path.i_lrs * (r_lrs / r_hrs) ** path.sensitivity for pol, path in paths.items()}
    # Net charge of +4 (positive LRS vs negative HRS) and of -4 (negative LRS vs positive HRS).
    net = {+1: 4 * (i_lrs[+1] - i_hrs[-1]), -1: 4 * (i_lrs[-1] - i_hrs[+1])}
    if min(net.values()) <= 0:
        raise CharacterizationError(f"a weight of +-4 gives no net current ({net[1]:.3g} A, {net[-1]:.3g} A): "
                                    "the two read paths copy too unequally")
    q_pos, q_neg = fits[+1][0], fits[-1][0]
    t_read = WEIGHT4_MARGIN * max(q_pos / net[+1], q_neg / net[-1])
    sensitivity = float(np.mean([path.sensitivity for path in paths.values()]))
    neuron = NeuronCharacteristics(
        charge_to_threshold_pos_c=q_pos, charge_to_threshold_neg_c=q_neg,
        threshold_sigma_rel=max(spreads.values()), refractory_s=t_refractory, reset="rest",
        energy_per_spike_j=e_spike, static_power_w=p_idle,
    )
    synapse = SynapseCharacteristics(
        v_read_v=params.v_read, t_read_s=t_read,
        lrs_current_a=i_lrs[+1], hrs_current_a=i_hrs[+1],
        lrs_current_neg_a=i_lrs[-1], hrs_current_neg_a=i_hrs[-1],
        lrs_sigma_ln=states.lrs.sigma_ln * sensitivity, hrs_sigma_ln=states.hrs.sigma_ln * sensitivity,
        read_noise_rel=device.read_noise.sigma_rel if device.read_noise is not None else 0.0,
        lrs_read_energy_j=cell_power[r_lrs] * t_read, hrs_read_energy_j=cell_power[r_hrs] * t_read,
    )
    details = {
        "fits": {"t0_pos_s": fits[+1][1], "t0_neg_s": fits[-1][1],
                 "read_sensitivity_dlnI_dlnR": {"pos": paths[+1].sensitivity, "neg": paths[-1].sensitivity},
                 "threshold_sigma_rel": {"pos": spreads[+1], "neg": spreads[-1]},
                 "mc_samples": sum(1 for m in measured if m.job.role == "mc") // 2,
                 # Nominal transistors; with mismatch the read regulation's offset adds to it.
                 "max_read_voltage_v": float(np.nanmax([m.read_voltage for m in measured if m.job.role != "mc"])),
                 "max_read_voltage_mismatch_v": float(np.nanmax([m.read_voltage for m in measured
                                                                 if m.job.role == "mc"])),
                 "idle_power_w": p_idle, "cell_read_power_w": {"lrs": cell_power[r_lrs], "hrs": cell_power[r_hrs]}},
        "neuron_params": dataclasses.asdict(params),
        "device_spread": states.to_dict(),
        "netlists_sha256": {m.job.name: hashlib.sha256(m.job.netlist.encode()).hexdigest()[:16] for m in measured},
        "assumptions": {
            "read_noise_rel": ("cycle-to-cycle read noise is not in the compact model: a stated assumption"
                               if device.read_noise is None or device.read_noise.is_default
                               else f"the device's: {device.read_noise.source}"),
            "t_read_s": f"design: a nominal +-4 weight delivers {WEIGHT4_MARGIN:g} x the threshold charge",
            "threshold_sigma_rel": "the larger of the two polarities' mismatch spreads",
            "reset": "each spike switches the membrane back to rest (charge above the threshold is lost)",
            "energy": "from the VDD supply only; the ideal reference sources (v_rest, thresholds, v_read) are not counted",
        },
    }
    return CharacterizationTable(supply.corner, supply.vdd, supply.temp_c, neuron, synapse, tuple(transfer),
                                 {**(provenance or {}), **details}, source="<characterization>")


def characterize(
    supply: OperatingPoint = OperatingPoint(),
    *,
    device: DeviceNonideality | None = None,
    card: ModelCard | None = None,
    params: NeuronParams = NeuronParams(),
    mc_samples: int = DEFAULT_MC_SAMPLES,
    workers: int | None = None,
    command: str = "",
) -> CharacterizationTable:
    """Run both stages in ngspice and build the table of `device`. The device defaults to
    the model card's fitted LRS/HRS distributions when it has them, else the literature
    defaults, with the assumed read noise (`device_nonideality`: every default announced
    on stderr and named in the table: `device_spread.source`, `assumptions`)."""
    card = card or ModelCard.default()
    device = device or device_nonideality(card, read_noise=ReadNoise.assumed())
    device.announce()
    if mc_samples < 2:
        raise CircuitkitError(f"mc_samples must be >= 2 to estimate a spread, got {mc_samples}")
    bench = _Bench(supply, params, card)
    first = stage1(bench, device.states)
    measured = [measure(j, r, supply.vdd) for j, r in zip(first, run_jobs(first, workers))]
    second = stage2(bench, _read_paths(measured, device.states), mc_samples)
    measured += [measure(j, r, supply.vdd) for j, r in zip(second, run_jobs(second, workers))]
    provenance = {
        "generator": "circuitkit.snn.characterize",
        "command": command,
        "circuitkit": __version__,
        "toolchain": toolchain().versions(),
        "toolchain_fingerprint": toolchain().fingerprint(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return analyse(measured, supply, device, params, provenance=provenance)


BUNDLED_CORNERS = ("tt", "ss", "ff", "sf", "fs")


def bundled_command(corner: str) -> str:
    """The command that makes the bundled table of `corner` (recorded in it)."""
    return f"python -m circuitkit.snn.characterize --corner {corner} -o circuitkit/snn/data/characterization_{corner}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m circuitkit.snn.characterize",
                                     description="Characterize the IF neuron + RRAM synapse in ngspice for the SNN.")
    add_operating_point_options(parser)
    parser.add_argument("--mc-samples", type=int, default=DEFAULT_MC_SAMPLES)
    parser.add_argument("--read-noise", type=float, default=None,
                        help=f"relative read noise per read (default: the assumed {DEFAULT_READ_NOISE_REL:g})")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("-o", "--output")
    target.add_argument("--bundled", action="store_true",
                        help=f"regenerate the bundled tables ({', '.join(BUNDLED_CORNERS)}) in circuitkit/snn/data")
    args = parser.parse_args(argv)
    if args.bundled:
        from circuitkit.snn.table import bundled_table_path

        jobs = [(corner, bundled_command(corner), bundled_table_path(corner)) for corner in BUNDLED_CORNERS]
    else:
        command = "python -m circuitkit.snn.characterize " + " ".join(argv if argv is not None else sys.argv[1:])
        jobs = [(args.corner or "tt", command, args.output)]
    try:
        noise = ReadNoise.assumed() if args.read_noise is None else ReadNoise(args.read_noise, "given on the command line")
        device = device_nonideality(ModelCard.default(), read_noise=noise)
        for corner, command, output in jobs:
            point = operating_point(args)
            supply = OperatingPoint(corner, point.vdd, point.temp_c)
            table = characterize(supply, device=device, mc_samples=args.mc_samples, command=command)
            table.write(output)
            print(f"{output}: {table.label()}")
    except CircuitkitError as error:
        print(f"characterize: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
