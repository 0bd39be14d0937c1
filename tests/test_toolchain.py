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
        toolchain.check_corner("xx")


def test_user_pdk_directory_takes_precedence(tmp_path, monkeypatch):
    cached = toolchain.find_sky130()
    assert cached is not None
    user_pdk = tmp_path / "my_pdk"
    user_pdk.mkdir()
    for name in toolchain.SKY130_FET_FILES:
        (user_pdk / name).write_bytes((cached.directory / name).read_bytes())
    monkeypatch.setenv("CIRCUITKIT_SKY130_MODELS", str(user_pdk))
    found = toolchain.find_sky130()
    assert found.directory == user_pdk and found.source == "CIRCUITKIT_SKY130_MODELS"
    assert (user_pdk / toolchain.SKY130_LIB_NAME).exists()


def test_toolchain_versions_are_recorded():
    versions = toolchain.toolchain().versions()
    assert versions["ngspice"].startswith("4")
    assert "OpenVAF" in versions["openvaf"]
    assert Path(versions["sky130_models"].split(": ", 1)[1]).is_dir()
