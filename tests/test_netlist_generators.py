"""Netlist generators without ngspice: parameter validation, netlist text, reference files, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from circuitkit import CircuitkitError
from circuitkit.cli import main
from circuitkit.netlist import (
    ArrayReadBench,
    NeuronParams,
    NeuronSizing,
    PcsaReadBench,
    PcsaSizing,
    ReadTiming,
    ReadUnit,
    RramStates,
    WireParasitics,
    if_neuron,
    ternary_pcsa,
    two_t_two_r_pcsa,
    weight_pattern,
    xnor_pcsa,
)
from circuitkit.netlist.common import spice_number
from circuitkit.netlist.reference import REFERENCE_NETLISTS, write_reference_netlists
from circuitkit.netlist.run import bench_info, simulate_file
from circuitkit.operating import OperatingPoint

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "netlists"


def pcsa_bench(units, **fields) -> str:
    return PcsaReadBench(units, **fields).to_netlist()


def array(weights, **fields) -> str:
    return ArrayReadBench(weights, **fields).to_netlist()

# --------------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: OperatingPoint("xx"), "unknown process corner 'xx'"),
        (lambda: OperatingPoint(vdd=-1.0), "vdd=-1.0"),
        (lambda: OperatingPoint(vdd=3.3), "outside the range"),
        (lambda: OperatingPoint(temp_c=200), "temp_c=200"),
        (lambda: two_t_two_r_pcsa(+1, point=("ss", 0.9, 125.0)), "expected an OperatingPoint"),
        (lambda: PcsaSizing(w_latch_n=-1.0), "w_latch_n=-1.0"),
        (lambda: PcsaSizing(w_access=0.2), "below the sky130 minimum width"),
        (lambda: PcsaSizing(l_min=0.1), "minimum length"),
        (lambda: ReadTiming(t_evaluate=-1e-9), "t_evaluate=-1e-09"),
        (lambda: ReadTiming(t_sample=5e-9), "t_sample=5e-09"),
        (lambda: ReadTiming(t_wl_lead=2e-9), "t_wl_lead"),
        (lambda: RramStates(50e3, 10e3), "must be below"),
        (lambda: RramStates(10e3, 100e3, unit="kohm"), "unit='kohm'"),
        (lambda: ReadUnit("W", +1), "name='W'"),
        (lambda: ReadUnit("w", 2), "weight=2"),
        (lambda: two_t_two_r_pcsa(0), "weight=0"),
        (lambda: pcsa_bench([]), "at least one ReadUnit"),
        (lambda: pcsa_bench([ReadUnit("a"), ReadUnit("a")]), "unique"),
        (lambda: pcsa_bench([ReadUnit("a", rram_bl={"gap_init": -1.0})]), "gap_init"),
        (lambda: pcsa_bench([ReadUnit("a", rram_bl={"bogus": 1.0})]), "not an instance parameter"),
        (lambda: pcsa_bench([ReadUnit("a")], xnor=True), "needs input_bit"),
        (lambda: two_t_two_r_pcsa(+1, reads=0), "reads=0"),
        (lambda: weight_pattern(0, 4), "rows=0"),
        (lambda: weight_pattern(4, 4, "stripes"), "unknown test pattern"),
        (lambda: array([]), "rows=0"),
        (lambda: array([[1, -1], [1]]), "expected a rectangle"),
        (lambda: array([[1, 5]]), "weight[0][1]=5"),
        (lambda: WireParasitics(r_bitline=-1.0), "r_bitline=-1.0"),  # 0 ohm is an ideal wire (the reference)
        (lambda: NeuronParams(v_read=0.3), "at most 0.1 V"),
        (lambda: NeuronParams(c_mem=-2e-13), "c_mem"),
        (lambda: NeuronParams(t_refractory=1e-9), "longer than t_spike"),
        (lambda: NeuronParams(mirror_division=2.5), "mirror_division"),
        (lambda: NeuronSizing(w_mirror=-1.0), "w_mirror=-1.0"),
        (lambda: if_neuron(None, None), "at least one synapse"),
        (lambda: if_neuron(-5.0), "r_positive=-5.0"),
        (lambda: if_neuron(30e3, params=NeuronParams(v_rest=0.3)), "inside the supply"),
    ],
)
def test_bad_parameters_raise_a_clear_error(make, message):
    with pytest.raises(CircuitkitError, match=re.escape(message)):
        make()


def test_cli_reports_bad_parameters_without_a_traceback(tmp_path, capsys):
    assert main(["netlist", "array", "--rows", "0", "-o", str(tmp_path / "a.cir")]) == 2
    assert "rows=0" in capsys.readouterr().err
    assert main(["netlist", "2t2r-pcsa", "--corner", "xx"]) == 2
    assert "unknown process corner 'xx'" in capsys.readouterr().err
    assert not (tmp_path / "a.cir").exists()


def test_simulate_refuses_a_foreign_netlist_before_running_ngspice():
    with pytest.raises(CircuitkitError, match="circuitkit-bench"):
        simulate_file("* hand written\nR1 a 0 1k\n.end\n")


# --------------------------------------------------------------------------- netlist text


def test_pcsa_netlist_is_readable_and_self_contained():
    text = two_t_two_r_pcsa(+1).to_netlist()
    assert text.startswith("* 2T2R + precharge sense amplifier")
    # The sky130 library holding only the model bins of the sizes it declares (circuitkit.spice.binning).
    assert re.search(r"^\* circuitkit-fet-sizes: sky130_fd_pr__nfet_01v8 W/L 1/0.15 2/0.15; "
                     r"sky130_fd_pr__pfet_01v8 W/L 0.5/0.15\n\.lib circuitkit_sky130_fet_[0-9a-f]{12}\.lib tt\n",
                     text, re.MULTILINE)
    assert ".temp 27\n" in text
    assert re.search(r"^\.model rram rram_hfox$", text, re.MULTILINE)
    assert not re.search(r"(^|[\s=(])(/|~/)\w", text, re.MULTILINE)  # no absolute paths anywhere
    # Every transistor is a sky130 1.8 V device sized by parameters, never by numbers.
    fets = [line for line in text.splitlines() if line.startswith("XM")]
    assert fets and all(re.search(r"sky130_fd_pr__[np]fet_01v8 w=\{\w+\} l=\{\w+\}", line) for line in fets)
    # Named nodes and a comment before every block.
    for node in (" preb ", " se ", " wl ", " q_w ", " qb_w ", " bl ", " blb ", " sl "):
        assert node in text
    assert text.count("\n* ---- ") >= 6
    # The RRAMs sit with be on the bit line: the read current flows be -> te (RESET).
    assert re.search(r"^Nbl cell_bl bl rram ", text, re.MULTILINE)
    assert re.search(r"^Nblb cell_blb blb rram ", text, re.MULTILINE)
    for measure in ("q_w", "qb_w", "tq_w", "tqb_w", "mq_w", "mqb_w", "e_w"):
        assert f".meas tran {measure} " in text
    assert text.endswith("\n.end\n")


def test_bench_units_get_their_own_supply_rram_parameters_and_measures():
    units = [ReadUnit("a", +1, rram_blb={"i0_scale": "{agauss(1, 0.1, 1)}"}),
             ReadUnit.with_resistances("b", -1, 80e3, 11e3)]
    text = pcsa_bench(units, point=OperatingPoint("ss", 1.62, 125.0), mismatch=True, seed=7)
    assert re.search(r"^\.lib circuitkit_sky130_fet_\w+\.lib ss_mm$", text, re.MULTILINE) and ".options seed=7\n" in text
    assert "Vdd_a vdd_a 0 {vdd}" in text and "Vdd_b vdd_b 0 {vdd}" in text
    assert re.search(r"^Xu_a .* i0_scale_blb=\{agauss\(1, 0.1, 1\)\}", text, re.MULTILINE)
    line_b = next(line for line in text.splitlines() if line.startswith("Xu_b "))
    assert "gap_init_bl=" in line_b and "{gap_hrs}" not in line_b  # the given resistances replace the states
    # energy = -vdd x the supply's charge: no par(), so no 99-unit cap and no second run
    assert ".meas tran qdd_b integ i(vdd_b) from={t_pre} to={t_pre+t_period}\n.meas tran e_b param='-vdd*qdd_b'" in text
    info = bench_info(text)
    assert [u["name"] for u in info["units"]] == ["a", "b"] and info["units"][0]["gap_bl"] > 0


def test_ternary_and_xnor_benches():
    ternary = bench_info(ternary_pcsa().to_netlist())
    assert ternary["vdd"] == 0.9 and ternary["t_sample"] == pytest.approx(1.0e-9)
    assert [(u["name"], u["expected"]) for u in ternary["units"]] == [("p", 1), ("z", 0), ("n", -1)]
    xnor = xnor_pcsa().to_netlist()
    assert ".subckt xnor_swap in inb bl blb sa sab" in xnor
    expected = {u["name"]: u["expected"] for u in bench_info(xnor)["units"]}
    assert expected == {"x0n": +1, "x0p": -1, "x1n": -1, "x1p": +1}  # XNOR(input, weight)


def test_array_netlist_structure():
    weights = weight_pattern(3, 2, "checkerboard")
    assert weights == ((1, -1), (-1, 1), (1, -1))
    text = array(weights, wires=WireParasitics(r_bitline=50.0))
    assert len(re.findall(r"^Xc_r\d_c\d ", text, re.MULTILINE)) == 6
    assert len(re.findall(r"^Xsa_c\d ", text, re.MULTILINE)) == 2
    assert ".param r_bl_pitch=50\n" in text
    # one resistor per pitch on each of bl, blb, sl (3 rows) and wl (2 columns)
    assert len(re.findall(r"^R(bl|blb|sl)_c\d_\d ", text, re.MULTILINE)) == 3 * 2 * 3
    assert len(re.findall(r"^Rwl_r\d_\d ", text, re.MULTILINE)) == 3 * 2
    assert "Xc_r1_c0 bl_c0_r1 blb_c0_r1 wl_r1_c0 sl_c0_r1 syn_2t2r gap_init_bl={gap_hrs} gap_init_blb={gap_lrs}" in text
    assert weight_pattern(4, 4, "random", seed=3) == weight_pattern(4, 4, "random", seed=3)
    assert set(sum(weight_pattern(6, 6, "random", seed=1, ternary=True), ())) == {-1, 0, 1}


def test_neuron_netlist_structure():
    text = if_neuron(30e3, 60e3).to_netlist()
    assert ".param c_mem=200f\n" in text and ".param v_read=0.1\n" in text
    for block in ("Xcmp_p vdd vbn vmem thp", "Xcmp_n vdd vbp thn vmem", "Cmem vmem 0 {c_mem}",
                  "Xsyn_p ", "Xsyn_n ", "Vi_p inj_p vmem 0", "Vi_n vmem ext_n 0"):
        assert block in text
    assert "Xsyn_n" not in if_neuron(30e3, None).to_netlist()


def test_spice_numbers():
    assert [spice_number(v) for v in (2e-15, 1e-9, 1.99159e-10, 0.15, 1.8, 1e5)] == \
        ["2f", "1n", "199.159p", "0.15", "1.8", "100000"]


# --------------------------------------------------------------------------- reference netlists


def test_reference_netlists_are_regenerated_bit_exactly(tmp_path):
    written = write_reference_netlists(tmp_path)
    assert sorted(p.name for p in written) == sorted(REFERENCE_NETLISTS)
    committed = sorted(p.name for p in REFERENCE_DIR.glob("*.cir"))
    assert committed == sorted(REFERENCE_NETLISTS), "netlists/ holds files no generator writes (or misses some)"
    for path in written:
        reference = REFERENCE_DIR / path.name
        assert path.read_bytes() == reference.read_bytes(), (
            f"{reference} differs from what the generator writes now: review the change, then run "
            "`.venv/bin/python -m circuitkit.netlist.reference`"
        )


def test_cli_netlist_writes_what_the_function_returns(tmp_path):
    out = tmp_path / "deep" / "x.cir"
    assert main(["netlist", "2t2r-pcsa", "--weight", "-1", "--corner", "ss", "--vdd", "1.62", "--temp", "125",
                 "-o", str(out)]) == 0
    assert out.read_text() == two_t_two_r_pcsa(-1, point=OperatingPoint("ss", 1.62, 125.0)).to_netlist()
    assert main(["netlist", "ternary-pcsa", "-o", str(tmp_path / "t.cir")]) == 0
    assert (tmp_path / "t.cir").read_text() == Path(REFERENCE_DIR / "ternary_pcsa.cir").read_text()
    assert main(["netlist", "if-neuron", "--r-positive", "none", "--r-negative", "20e3",
                 "-o", str(tmp_path / "n.cir")]) == 0
    assert "Xsyn_p" not in (tmp_path / "n.cir").read_text()


def test_every_bench_refuses_a_reltol_ngspice_cannot_use():
    """reltol reaches ngspice through a bench's options only (the shared mechanism), and every
    bench checks it there, not only the array bench."""
    for bench in (lambda **f: PcsaReadBench((ReadUnit("a"),), **f), lambda **f: ArrayReadBench(weight_pattern(2, 2), **f)):
        for reltol in (2, 0, "1e-3"):
            with pytest.raises(CircuitkitError, match=f"options reltol={reltol!r}: expected a relative tolerance"):
                bench(options={"reltol": reltol})
        assert ".options reltol=" in bench(options={"reltol": 1e-4}).to_netlist()
