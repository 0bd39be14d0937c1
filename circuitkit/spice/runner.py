"""Run a netlist in ngspice and get named waveforms and `.meas` results back as numpy arrays.

Two back ends, same result type:
- `run_batch`: one `ngspice -b` subprocess per call. Isolated (a crash or a leak dies with
  the process), ~6 ms launch; the default for campaigns and anything run in parallel.
- `SharedSession`: ngspice as a shared library through PySpice, kept alive in-process.
  Cheaper for many small interactive runs; one per process, since ngspice keeps global
  state (parallelise with processes, and recycle them: it leaks ~13 MiB per transient).

Both raise `SimulationError` with the netlist path and ngspice's own message when the
netlist does not parse or the simulation does not converge.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.files import write_atomic
from circuitkit.spice.deck import Deck, prepare_deck
from circuitkit.spice.rawfile import read_raw, vector_name


class SimulationError(CircuitkitError):
    """ngspice could not parse or could not finish a simulation.

    `kind` is 'syntax', 'convergence', 'timeout' or 'failed'; `ngspice_message` holds the
    lines ngspice itself printed about it.
    """

    def __init__(self, kind: str, netlist_path: Path | None, ngspice_message: str):
        self.kind = kind
        self.netlist_path = netlist_path
        self.ngspice_message = ngspice_message
        where = f" in {netlist_path}" if netlist_path else ""
        what = {
            "syntax": "netlist error",
            "convergence": "simulation did not converge",
            "timeout": "simulation timed out",
        }.get(kind, "simulation failed")
        super().__init__(f"{what}{where}: {ngspice_message}")


# Lines ngspice prints when it gives up (lower-case substrings). Warnings that ngspice
# recovers from (gmin stepping failed, then source stepping succeeded) are not here.
_SYNTAX_MARKERS = (
    "error on line", "unknown subckt", "could not find include file", "can't find model",
    "unable to find definition of model", "unknown model type", "undefined parameter",
    "error: unknown", "syntax error", "circuit not parsed", "no circuit loaded",
    "cannot find library", "could not find library", "unknown device type", "no such command", "no such function",
    "there were errors in the circuit", "error(s) in netlist", "osdi: cannot load", "is not a valid osdi",
    "can't open", "error: undefined", "could not parse",
)
_CONVERGENCE_MARKERS = (
    "timestep too small", "simulation(s) aborted", "iteration limit reached", "no convergence",
    "transient op failed", "dc solution failed", "op failed", "analysis aborted",
    "simulation interrupted due to error",
)
# `name = value` optionally followed by `at=`/`targ=`/`trig=` fields, nothing else (so
# ngspice's own `Stack = 0 bytes.` is not taken for a measure).
_MEASURE_LINE = re.compile(
    r"^\s*([A-Za-z_][\w.]*)\s+=\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)((?:\s+\w+=\s*\S+)*)\s*$",
    re.MULTILINE,
)
_MEASURE_FAILED = re.compile(r"measure\s+([A-Za-z_][\w.]*)\b.*failed", re.IGNORECASE)


@dataclasses.dataclass
class SimResult:
    """Waveforms (last plot) and measures of one ngspice run."""

    vectors: dict[str, np.ndarray]
    measures: dict[str, float]
    measure_series: dict[str, np.ndarray]  # every value a measure took, in order (for loops)
    log: str
    netlist_path: Path | None = None
    plots: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        key = name.lower()
        if key in self.vectors:
            return self.vectors[key]
        if f"v({key})" in self.vectors:
            return self.vectors[f"v({key})"]
        raise KeyError(f"no vector {name!r} in the simulation result; available: {', '.join(sorted(self.vectors))}")

    def measure(self, name: str) -> float:
        key = name.lower()
        if key not in self.measures:
            raise CircuitkitError(
                f"measure {name!r} was not produced by {self.netlist_path or 'the netlist'}; "
                f"measured: {', '.join(sorted(self.measures)) or 'none'}"
            )
        return self.measures[key]


_OP_ONLY_BY_PSEUDO_TRANSIENT = (
    "no DC operating point: Newton iteration, gmin stepping and source stepping all failed "
    "(ngspice then fell back to a pseudo-transient 'transient op', whose end point is not a "
    "verified solution; pass allow_transient_op=True to accept it)"
)


def _failure(log: str, allow_transient_op: bool = False) -> tuple[str, str] | None:
    """(kind, ngspice's own lines) if the log says the run failed."""
    lowered = log.lower()
    if not allow_transient_op and "source stepping failed" in lowered:
        return "convergence", _OP_ONLY_BY_PSEUDO_TRANSIENT
    for kind, markers in (("syntax", _SYNTAX_MARKERS), ("convergence", _CONVERGENCE_MARKERS)):
        # A batch's log holds a line per measure: look at its lines only when a marker is in it.
        if not any(marker in lowered for marker in markers):
            continue
        hits = [line.strip() for line in log.splitlines() if any(marker in line.lower() for marker in markers)]
        if hits:
            return kind, " | ".join(dict.fromkeys(hits))[:2000]
    return None


def parse_measures(log: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    series: dict[str, list[float]] = {}
    for name, value, _ in _MEASURE_LINE.findall(log):
        series.setdefault(name.lower(), []).append(float(value))
    for name in _MEASURE_FAILED.findall(log):
        series.setdefault(name.lower(), []).append(float("nan"))
    return ({name: values[-1] for name, values in series.items()},
            {name: np.asarray(values) for name, values in series.items()})


def _title_first(netlist: str) -> str:
    # ngspice takes the first line as the title: never let a real element land there.
    return netlist if netlist.startswith("*") or not netlist.lstrip().startswith(".") else "* circuitkit\n" + netlist


_END_LINE = re.compile(r"^\s*\.end\s*$", re.IGNORECASE | re.MULTILINE)


def _with_batch_control(netlist: str, raw_name: str) -> str:
    """Give a netlist without a .control block one that runs it, writes the raw file and
    quits.

    (`ngspice -b -r` writes the raw file but then prints no .meas results; a control
    block gets both. Without `quit`, `ngspice -b` runs the analysis a second time after
    the block because the deck has `.meas` lines.) A netlist with its own .control block
    is left as it is.
    """
    if re.search(r"^\s*\.control\b", netlist, re.IGNORECASE | re.MULTILINE):
        return netlist
    control = f".control\nset filetype=binary\nrun\nwrite {raw_name}\nquit\n.endc\n"
    ends = list(_END_LINE.finditer(netlist))
    if ends:
        cut = ends[-1].start()
        return netlist[:cut] + control + netlist[cut:]
    return netlist.rstrip("\n") + "\n" + control + ".end\n"


# ngspice's report of a transistor whose size no kept model bin holds: the expanded M line
# (`... <model> l= <L> w= <W> ...`), then "could not find a valid modelname".
_NO_BIN = re.compile(r"^\s*(m\S*)\s.*?\s(\S+)\s+l=\s*(\S+)\s+w=\s*(\S+).*\n(?:.*\n)?.*could not find a valid modelname",
                     re.IGNORECASE | re.MULTILINE)


def _binning_hint(log: str, deck: Deck) -> str:
    """What to tell a user whose netlist failed with a bin-resolved library: which
    transistor size has no kept bin, and which bins the library keeps."""
    if deck.fet_library is None or "could not find a valid modelname" not in log.lower():
        return ""
    sizes = [f"{m.group(1)} (model {m.group(2)}, W = {float(m.group(4)):g} um, L = {float(m.group(3)):g} um)"
             for m in _NO_BIN.finditer(log)]
    library = deck.fet_library
    return (f" | no model bin for {'; '.join(sizes) or 'a transistor'} in the bin-resolved library "
            f"{library.library.name}, made for the declared sizes {library.sizes.declaration()}; it keeps "
            f"{library.describe()}. Declare every transistor size the netlist uses (the generator's fet_sizes) "
            "or load the full library (circuitkit_sky130_fet.lib)")


def run_batch(
    netlist: str,
    *,
    workdir: Path | str | None = None,
    name: str = "circuit",
    timeout: float = 600.0,
    deck: Deck | None = None,
    allow_transient_op: bool = False,
) -> SimResult:
    """Run `netlist` with `ngspice -b` in `workdir` (a fresh temporary directory if None).

    The deck is written to `workdir/<name>.cir` with its `.spiceinit` beside it, so a
    failed run can be rerun by hand from that directory. Files the netlist's own .control
    block writes (wrdata, write) land in `workdir` too.
    """
    deck = deck or prepare_deck(netlist)
    keep = workdir is not None
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="circuitkit-")
    directory = Path(workdir) if keep else Path(tmp.name)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        netlist_path = directory / f"{name}.cir"
        raw_path = directory / f"{name}.raw"
        netlist_path.write_text(_with_batch_control(_title_first(netlist), raw_path.name))
        # atomic: parallel chunks share a kept workdir, and an ngspice starting while another
        # run truncates .spiceinit reads no sourcepath ("Could not find library file")
        write_atomic(directory / ".spiceinit", deck.spiceinit())
        raw_path.unlink(missing_ok=True)
        shown_path = netlist_path if keep else None
        try:
            proc = subprocess.run(
                # The binary toolchain() resolved ($CIRCUITKIT_NGSPICE or PATH) and records.
                [str(deck.ngspice), "-b", netlist_path.name],
                cwd=directory, capture_output=True, text=True, timeout=timeout,
                env={**os.environ, "HOME": str(directory)},  # no user ~/.spiceinit interferes
            )
        except subprocess.TimeoutExpired as error:
            raise SimulationError("timeout", shown_path, f"no result after {timeout:g} s") from error
        log = proc.stdout + proc.stderr
        failure = _failure(log, allow_transient_op)
        if failure:
            raise SimulationError(failure[0], shown_path, failure[1] + _binning_hint(log, deck))
        if proc.returncode != 0:
            raise SimulationError("failed", shown_path, f"ngspice exited with {proc.returncode}: {log.strip()[-1500:]}")
        plots = {}
        if raw_path.exists() and raw_path.stat().st_size > 0:
            plots = {plot.name: plot.vectors for plot in read_raw(raw_path)}
        measures, series = parse_measures(log)
        vectors = list(plots.values())[-1] if plots else {}
        return SimResult(vectors, measures, series, log, shown_path, plots)
    finally:
        if tmp is not None:
            tmp.cleanup()


class SharedSession:
    """ngspice as a shared library (PySpice), one per process; runs netlists in-process."""

    _instance: "SharedSession | None" = None

    def __init__(self) -> None:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared

        # PySpice logs every ngspice stderr line as an error; this class reads ngspice's
        # output itself and raises SimulationError when a run really failed.
        logging.getLogger("PySpice").setLevel(logging.CRITICAL)
        self._ngspice = NgSpiceShared.new_instance()
        self._loaded_osdi: set[Path] = set()
        self._init_done: set[str] = set()
        self._unrecoverable = ""  # set when the library refuses further circuits

    @classmethod
    def get(cls) -> "SharedSession":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def command(self, command: str) -> str:
        """Run one ngspice command; return everything it printed (stdout and stderr)."""
        self._ngspice.clear_output()
        self._ngspice._ngspice_shared.ngSpice_Command(command.encode("utf-8"))
        return "\n".join((self._ngspice.stdout, self._ngspice.stderr))

    def run(self, netlist: str, *, deck: Deck | None = None, allow_transient_op: bool = False) -> SimResult:
        if self._unrecoverable:
            raise SimulationError(
                "failed", None,
                f"the in-process ngspice is unusable after an earlier fatal netlist error ({self._unrecoverable}); "
                "start a new process or use run_batch",
            )
        deck = deck or prepare_deck(netlist)
        for command in deck.init_commands:
            if command.startswith("osdi "):
                path = Path(command.split(" ", 1)[1])
                if path not in self._loaded_osdi:
                    output = self.command(f"osdi {path}")
                    if "error" in output.lower():
                        raise SimulationError("syntax", None, output.strip())
                    self._loaded_osdi.add(path)
            elif command.startswith("set sourcepath") or command not in self._init_done:
                # sourcepath every time: another deck may have pointed it at other libraries
                self.command(command)
                self._init_done.add(command)
        log = self._load(_title_first(netlist))
        failure = _failure(log)
        if failure:
            raise SimulationError(failure[0], None, failure[1] + _binning_hint(log, deck))
        log += self.command("run")
        failure = _failure(log, allow_transient_op)
        if failure:
            raise SimulationError(failure[0], None, failure[1])
        vectors = {}
        plot_name = self._ngspice.last_plot
        for raw_name, vector in self._ngspice.plot(None, plot_name).items():
            vectors[vector_name(raw_name)] = np.array(vector._data if hasattr(vector, "_data") else vector)
        measures, series = parse_measures(log)
        return SimResult(vectors, measures, series, log, None, {plot_name: vectors})

    def _load(self, netlist: str) -> str:
        from PySpice.Spice.NgSpice.Shared import NgSpiceCircuitError

        try:
            self._ngspice.load_circuit(netlist)
        except NgSpiceCircuitError:
            pass  # PySpice raises on any stdout 'error'; classify it ourselves below
        except NameError:
            # ngSpice_Circ returned non-zero: the library "cannot recover and awaits to be
            # reset or detached", which PySpice cannot do in-process.
            log = "\n".join((self._ngspice.stdout, self._ngspice.stderr))
            failure = _failure(log)
            self._unrecoverable = failure[1] if failure else log.strip()[-300:]
            raise SimulationError(failure[0] if failure else "failed", None, self._unrecoverable) from None
        return "\n".join((self._ngspice.stdout, self._ngspice.stderr))

