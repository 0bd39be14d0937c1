"""Monte Carlo read throughput: today's full sky130 library against the bin-resolved one,
against plain MOSFET cards (the practical limit), measured in the same run.

Three netlists of the same Monte Carlo batch (same cells, same ngspice seed, tt, 1.8 V,
27 C, per-instance mismatch on):
- full:    the PDK's whole FET library (every instance copies its device's 48 binned
           cards), energy by `integ par(...)`, every waveform saved and a control block
           without `quit`: how circuitkit ran a batch before the bin-resolved library
           (ngspice then runs the transient twice, and measures energy only the second time;
           above 99 units, which par() refuses, the energy is measured the new way);
- binned:  what a campaign runs now (`read_bench`): the bin-resolved library of the
           bench's sizes, energy as -vdd x the supply's charge, only the measured
           vectors saved, `quit`;
- plain:   the same circuit with every sky130 subcircuit call replaced by a MOSFET line
           of a top-level one-bin model card (the bin ngspice picks, the PDK's mismatch
           written into `delvto`): nothing is copied per instance, so this is what
           ngspice needs for the circuit itself.

Per run (one ngspice process, its own rusage): ms of CPU per sample (user + system, what
a core spends), wall ms per sample and peak memory. Then the campaign engine's
samples/s on `--workers` processes with the full library (a ReadSimulator that writes
the old netlist) and with the new default; CPU time counts this process, its children
and the worker server's tree (the campaign forks its workers from a server that imports
circuitkit once, `circuitkit.corners.executors`: the server is started before either
campaign is timed and its cost printed, and charged to the new default in a second
ratio). Targets (issue 14): >= 4x the old samples/s,
within 1.5x of the plain cards per core, peak memory below 200 MB at 256 units.

    .venv/bin/python bench/bench_corners.py [--batches 64,256] [--campaign-samples 512]
                                            [--workers 2] [--sweep 16,32,64,128,256]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from circuitkit import toolchain as tc
from circuitkit.corners.batch import ReadBatch
from circuitkit.corners.campaign import CampaignConfig, run_campaign
from circuitkit.corners.executors import worker_context, make_executor
from circuitkit.corners.reads import PcsaReadSimulator, read_bench
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.netlist.common import NFET, PFET
from circuitkit.netlist.pcsa import PcsaReadBench
from circuitkit.operating import OperatingPoint
from circuitkit.spice.binning import FET_SIZES_TAG, LIBRARY_PREFIX, reduce_models
from circuitkit.spice.deck import prepare_deck
from circuitkit.spice.runner import _with_batch_control, run_batch

POINT = OperatingPoint("tt", 1.8, 27.0)
SEED = 12345


# --------------------------------------------------------------------------- the three netlists


def binned_netlist(bench: PcsaReadBench) -> str:
    return bench.to_netlist()


# ngspice allows at most 99 par() calls per deck: the old energy measure could not run more units.
PAR_LIMIT = 99


def full_netlist(bench: PcsaReadBench, raw_name: str = "batch.raw") -> str:
    """The batch as circuitkit wrote it before: full library, par() energy, every waveform,
    a control block without quit. Above PAR_LIMIT units (which the old netlist could not
    run at all) the energy is measured the new way, everything else as before."""
    text = dataclasses.replace(bench, fet_library="full", waveforms=True).to_netlist()
    if len(bench.units) > PAR_LIMIT:
        return text.replace("\n.end\n", f"\n.control\nset filetype=binary\nrun\nwrite {raw_name}\n.endc\n.end\n")
    text = re.sub(r"^\.meas tran qdd_(\w+) integ i\((\w+)\) (from=\S+ to=\S+)\n\.meas tran e_\1 param='-vdd\*qdd_\1'$",
                  r".meas tran e_\1 integ par('-v(\2)*i(\2)') \3", text, flags=re.MULTILINE)
    return text.replace("\n.end\n", f"\n.control\nset filetype=binary\nrun\nwrite {raw_name}\n.endc\n.end\n")


# The PDK's formulas the plain cards need (nfet_01v8 / pfet_01v8 subcircuits of models_fet.spice);
# `plain_library` checks they are still the PDK's before it uses them.
_NRDS = {NFET: ("89.1*nf/w+443.5", lambda w: 89.1 / w + 443.5), PFET: ("361*nf/w+1489", lambda w: 361 / w + 1489)}
_DELVTO = {
    NFET: "(sw_vth0_{d}+sw_mm_vth0_{d}*mismatch_factor*MC_MM_SWITCH*agauss(0,1,1)/sqrt({l}*{w})+sw_vth0_{d}_mc)"
          "*(0.008*8/{l}+0.992)*(0.035*7/{w}+0.965)*(0.001*56/({w}*{l})+0.999)",
    PFET: "(sw_vth0_{d}+sw_vth0_{d}_mc)*(0.0230*8/{l}+0.9770)*(0.028*7/{w}+0.972)*(0.0005*56/({w}*{l})+0.9995)"
          "+sw_mm_vth0_{d}*mismatch_factor*MC_MM_SWITCH*agauss(0,1,1)/sqrt({l}*{w})",
}


def plain_library(bench: PcsaReadBench, directory: Path) -> tuple[Path, dict[tuple[str, str, str], str]]:
    """A corner library whose FET models are one top-level card per (device, W, L): the
    bin ngspice picks for it (the last kept bin that holds it, as ngspice 46 does), with
    the width-dependent sheet resistance written as a number."""
    models = tc.toolchain().sky130
    sizes = bench.fet_sizes()
    source = (models.directory / "models_fet.spice").read_text()
    reduced = reduce_models(source, sizes)
    params = {name: value for name, value, _ in bench.sizing.params()}
    cards, names = [], {}
    for k, size in enumerate(sizes.sizes):
        formula, nrds = _NRDS[size.device]
        assert formula in source, f"the PDK's {size.device} changed: update bench_corners' plain cards"
        chosen = [b for b in reduced.kept[size.device] if b.holds(size)][-1]
        card = re.search(rf"^\.model {re.escape(chosen.name)} .*?(?=^[^+\s]|\Z)", reduced.text,
                         re.MULTILINE | re.DOTALL).group(0)
        name = f"plain{k}"
        card = card.replace(f".model {chosen.name} ", f".model {name} ", 1).replace("{swx_nrds}", f"{nrds(size.w_um):.12g}")
        cards.append(card)
        for w_name, w in params.items():
            for l_name, l in params.items():
                if w_name.startswith("w_") and l_name == "l_min" and (w, l) == (size.w_um, size.l_um):
                    names[(size.device, w_name, l_name)] = name
    fet_models = directory / "plain_fet_models.spice"
    fet_models.write_text("* one model card per transistor size\n" + "\n".join(cards))
    library = directory / "circuitkit_sky130_plain.lib"
    tc._write_corner_library(library, models.directory, fet_models)
    return library, names


def plain_netlist(bench: PcsaReadBench, library: Path, names: dict[tuple[str, str, str], str]) -> str:
    text = binned_netlist(bench)
    text = re.sub(rf"^{re.escape(FET_SIZES_TAG)}.*\n\.lib {LIBRARY_PREFIX}\w+\.lib", f'.lib "{library}"', text,
                  flags=re.MULTILINE)

    def mosfet(match: re.Match) -> str:
        name, nodes, device, w, l, rest = match.groups()
        d = device.removeprefix("sky130_fd_pr__")
        delvto = _DELVTO[device].format(d=f"sky130_fd_pr__{d}", w=w, l=l)
        return (f"M{name} {nodes} {names[(device, w, l)]} w={{{w}}} l={{{l}}}{rest} nrd={{0.14/{w}}} "
                f"nrs={{0.14/{w}}} delvto={{{delvto}}}")

    return re.sub(r"^X(\w+) (\S+ \S+ \S+ \S+) (sky130_fd_pr__[np]fet_01v8) w=\{(\w+)\} l=\{(\w+)\}(.*)$", mosfet,
                  text, flags=re.MULTILINE)


# --------------------------------------------------------------------------- one run, measured


@dataclasses.dataclass(frozen=True)
class Run:
    cpu_s: float
    wall_s: float
    peak_mb: float
    log: str


def _peak_resident_mb(pid: int) -> float | None:
    """The process's resident-memory high-water mark (VmHWM) so far, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def run_measured(netlist: str, directory: Path) -> Run:
    """ngspice -b on `netlist` as run_batch runs it (same start-up commands), with the
    child's own CPU time (wait4) and peak resident memory (VmHWM, read every few ms while it
    runs: the child's rusage maxrss would also count the Python process it was forked from)."""
    directory.mkdir(parents=True, exist_ok=True)
    deck = prepare_deck(netlist)
    (directory / "batch.cir").write_text(_with_batch_control(netlist, "batch.raw"))
    (directory / ".spiceinit").write_text(deck.spiceinit())
    peak = 0.0
    with open(directory / "batch.log", "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen([str(deck.ngspice), "-b", "batch.cir"], cwd=directory, stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, "HOME": str(directory)})
        while True:
            peak = max(peak, _peak_resident_mb(process.pid) or 0.0)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.003)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    text = (directory / "batch.log").read_text()
    if process.returncode != 0:
        raise RuntimeError(f"ngspice failed in {directory}: {text[-1500:]}")
    return Run(usage.ru_utime + usage.ru_stime, wall, peak, text)


def check_reads(log: str, units: int) -> None:
    """Every unit has a decision and an energy (a benchmark of runs that measure nothing
    would be worthless)."""
    for measure in ("q", "e"):
        found = len(re.findall(rf"^{measure}_u\d+\s+=\s+\S+", log, re.MULTILINE))
        assert found >= units, f"{found} of {units} '{measure}_' measures in the run"


def per_run(batches: list[int], workdir: Path, repeats: int) -> dict[int, dict[str, Run]]:
    rng = np.random.default_rng(SEED)
    spread = DeviceNonideality()
    results: dict[int, dict[str, Run]] = {}
    for units in batches:
        bench = read_bench(POINT, "binary", spread.draw(rng, +1, units), SEED)
        library, names = plain_library(bench, workdir)
        netlists = {"full": full_netlist(bench), "binned": binned_netlist(bench),
                    "plain": plain_netlist(bench, library, names)}
        results[units] = {}
        for variant, netlist in netlists.items():
            runs = [run_measured(netlist, workdir / f"{variant}_{units}_{k}") for k in range(repeats)]
            best = min(runs, key=lambda run: run.cpu_s)
            check_reads(best.log, units)
            results[units][variant] = best
    return results


# --------------------------------------------------------------------------- campaign throughput


@dataclasses.dataclass(frozen=True)
class FullLibrarySimulator(PcsaReadSimulator):
    """A campaign's reads with the netlist circuitkit wrote before (see `full_netlist`)."""

    def __call__(self, point, scheme, resistances, spice_seed, *, stored=+1, card=None, tighter=False,
                 mismatch=True) -> ReadBatch:
        bench = read_bench(point, scheme, resistances, spice_seed, stored=stored, card=card, tighter=tighter,
                           mismatch=mismatch)
        reads = bench.measure(run_batch(full_netlist(bench, "mc_batch.raw"), name="mc_batch"))
        ordered = [reads[f"u{index}"] for index in range(len(resistances))]
        values = np.array([read.value for read in ordered], dtype=np.int64)
        return ReadBatch(np.where(values == 0, -stored, values), np.array([r.delay_s for r in ordered]),
                         np.array([r.margin_v for r in ordered]))


def _forkserver_cpu_seconds() -> float:
    """CPU time of the server that forks the campaign's workers, and of every child it has
    reaped (the workers, and through them their ngspice runs): they are not this process's
    children (`circuitkit.corners.executors`). 0 before the server runs."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # private, but the only handle
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def _cpu_seconds() -> float:
    """CPU time of this process, of every child it has reaped and of the worker server's
    tree (the pool's workers, and through them their ngspice runs)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + _forkserver_cpu_seconds()


def start_worker_server(simulators) -> float:
    """Start the campaign engine's worker server (it imports circuitkit once, for every
    campaign of this process) before timing; return the CPU seconds that took."""
    from multiprocessing import forkserver

    cpu = _cpu_seconds()
    worker_context([type(simulator).__module__ for simulator in simulators])
    forkserver.ensure_running()
    with make_executor("process", 2, preload=()) as (pool, _):
        pool.submit(os.getpid).result()  # the server has imported everything once a worker answers
    return _cpu_seconds() - cpu


def campaign_rate(samples: int, workers: int, batch_size: int, simulator) -> tuple[float, float]:
    """A whole campaign (both stored values) on `workers` processes: read samples per second
    of wall time (what the shared machine gave), and CPU ms per sample, workers and ngspice
    included (what it costs, whatever the load)."""
    config = CampaignConfig(corners=("tt",), vdd=(1.8,), samples=samples // 2, batch_size=batch_size, seed=1)
    simulator.timing("binary", 1.8)   # the supply's nominal delay, measured once before timing
    with tempfile.TemporaryDirectory() as out:
        cpu, started = _cpu_seconds(), time.perf_counter()
        run_campaign(config, out, simulator=simulator, workers=workers, progress=False)
        wall = time.perf_counter() - started
        return samples / wall, (_cpu_seconds() - cpu) / samples * 1e3


# --------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="64,256", help="read units per netlist for the per-run figures")
    parser.add_argument("--repeats", type=int, default=2, help="runs per netlist (the lowest CPU time is kept)")
    parser.add_argument("--campaign-samples", type=int, default=512, help="reads per campaign (0: skip)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--old-batch-size", type=int, default=64, help="the campaign batch size before (64)")
    parser.add_argument("--sweep", default="", help="batch sizes for a per-core sweep of the binned netlist")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
          f"(1/5/15 min) at the start")
    batches = [int(b) for b in args.batches.split(",") if b]
    with tempfile.TemporaryDirectory(prefix="bench-corners-") as tmp:
        results = per_run(batches, Path(tmp), args.repeats)
    print("\nper ngspice run (tt, 1.8 V, mismatch; best of "
          f"{args.repeats} by CPU time): CPU ms/sample (one core), wall ms/sample, peak MB")
    for units, runs in results.items():
        for variant, run in runs.items():
            print(f"  {units:4d} units  {variant:6s}  {run.cpu_s / units * 1e3:7.2f} ms  {run.wall_s / units * 1e3:7.2f} ms"
                  f"  {run.peak_mb:8.1f} MB")
        full, binned, plain = (runs[v].cpu_s for v in ("full", "binned", "plain"))
        print(f"  {units:4d} units  binned is x{full / binned:.2f} faster per core than full (target >= 4), "
              f"x{binned / plain:.2f} the plain cards' time (target <= 1.5); peak {runs['binned'].peak_mb:.0f} MB "
              f"vs {runs['full'].peak_mb:.0f} MB" + ("  (target < 200 MB)" if units >= 256 else ""))
    if args.sweep:
        sizes = [int(b) for b in args.sweep.split(",") if b]
        with tempfile.TemporaryDirectory(prefix="bench-corners-sweep-") as tmp:
            rng = np.random.default_rng(SEED)
            print("\nbatch-size sweep, binned netlist: CPU ms/sample (one core), peak MB")
            for units in sizes:
                bench = read_bench(POINT, "binary", DeviceNonideality().draw(rng, +1, units), SEED)
                runs = [run_measured(binned_netlist(bench), Path(tmp) / f"sweep_{units}_{k}") for k in range(args.repeats)]
                best = min(runs, key=lambda run: run.cpu_s)
                print(f"  {units:4d} units  {best.cpu_s / units * 1e3:7.2f} ms  {best.peak_mb:7.1f} MB")
    if args.campaign_samples:
        default = CampaignConfig().batch_size
        print(f"\ncampaign engine, {args.campaign_samples} reads, {args.workers} worker processes: samples/s of wall "
              "time; CPU ms per sample (workers and ngspice included) and the samples/s that makes on "
              f"{args.workers} unshared cores")
        simulators = (("full library", args.old_batch_size, FullLibrarySimulator()),
                      ("binned library", default, PcsaReadSimulator()))
        server_cpu = start_worker_server([simulator for _, _, simulator in simulators])
        print(f"  worker server start (once per process, imports circuitkit once for all workers): "
              f"{server_cpu:.2f} s CPU = {server_cpu / args.campaign_samples * 1e3:.2f} ms per sample of one campaign")
        rates = {}
        for label, batch, simulator in simulators:
            wall_rate, cpu_ms = campaign_rate(args.campaign_samples, args.workers, batch, simulator)
            rates[label] = (wall_rate, cpu_ms)
            print(f"  {label:14s} batch {batch:3d}: {wall_rate:7.2f} samples/s, {cpu_ms:6.2f} CPU ms/sample "
                  f"({args.workers * 1e3 / cpu_ms:6.1f} samples/s on {args.workers} cores)")
        (old_rate, old_cpu), (new_rate, new_cpu) = rates["full library"], rates["binned library"]
        charged = new_cpu + server_cpu / args.campaign_samples * 1e3
        print(f"  binned / full: x{new_rate / old_rate:.2f} samples/s of wall time, x{old_cpu / new_cpu:.2f} by CPU "
              f"time (target >= 4); x{old_cpu / charged:.2f} with the worker server's start charged to the binned "
              "campaign alone")
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)")


if __name__ == "__main__":
    main()
