"""CSV readers: lab-file variants read right, and every malformed file ends in MeasurementError."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuitkit import CircuitkitError
from circuitkit.measurements import (
    MeasurementError,
    read_distribution,
    read_iv,
    read_measurement,
    read_pulse,
    split_header,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "characterization"

LAB_IV = """\
# instrument: Keysight B1500A
# operator: someone
time_s,voltage_V,current_uA,cycle
0.00,0.000,0.001,1
0.01,0.100,1.5,1
0.02,0.200,3.1,1
0.03,0.000,0.0,1
0.04,-0.100,-1.0,1
0.05,0.000,0.0,1
"""


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ------------------------------------------------------------------ reading real-looking files


def test_lab_iv_file_units_metadata_and_provenance(tmp_path):
    sweep = read_iv(write(tmp_path, LAB_IV))
    np.testing.assert_allclose(sweep.current[:3], [1e-9, 1.5e-6, 3.1e-6])
    np.testing.assert_allclose(sweep.voltage[:3], [0.0, 0.1, 0.2])
    assert sweep.cycles == 1 and sweep.time_origin == "file"
    assert sweep.source.metadata["instrument"] == "Keysight B1500A"
    assert sweep.source.units == {"voltage": "V", "current": "uA", "time": "s"}
    assert len(sweep.source.sha256) == 64


@pytest.mark.parametrize("header, scale", [
    ("Time (ms);Voltage [mV];I/nA", (1e-3, 1e-3, 1e-9)),
    ("t\tV_applied in mV\tImeas (µA)", (1.0, 1e-3, 1e-6)),
    ("TIME_US,BIAS_V,CURRENT_MA", (1e-6, 1.0, 1e-3)),
])
def test_header_unit_spellings(tmp_path, header, scale):
    delimiter = ";" if ";" in header else "\t" if "\t" in header else ","
    rows = ["1", "2", "3"], ["10", "-20", "30"], ["5", "6", "7"]
    body = "\n".join(delimiter.join(cell[k] for cell in rows) for k in range(3))
    sweep = read_iv(write(tmp_path, header + "\n" + body + "\n"))
    np.testing.assert_allclose(sweep.time, np.array([1, 2, 3]) * scale[0])
    np.testing.assert_allclose(sweep.voltage, np.array([10, -20, 30]) * scale[1])
    np.testing.assert_allclose(sweep.current, np.array([5, 6, 7]) * scale[2])


def test_split_header_forms():
    assert split_header("current_uA") == ("current", "uA")
    assert split_header("R before (kOhm)") == ("r_before", "kOhm")
    assert split_header("r_before") == ("r_before", None)
    assert split_header("Resistance [MΩ]") == ("resistance", "MΩ")


def test_units_and_columns_from_options(tmp_path):
    path = write(tmp_path, "t,Vforce,Isense\n0,0,1\n1,0.5,2\n2,1.0,3\n")
    sweep = read_iv(path, columns={"voltage": "Vforce"}, units={"current": "mA", "time": "ms"})
    np.testing.assert_allclose(sweep.current, [1e-3, 2e-3, 3e-3])
    np.testing.assert_allclose(sweep.time, [0, 1e-3, 2e-3])
    assert sweep.source.columns["voltage"] == "Vforce"
    assert sweep.source.units["voltage"] == "V"  # SI default, recorded


def test_decimal_comma_with_semicolons(tmp_path):
    sweep = read_iv(write(tmp_path, "time_s;voltage_V;current_A\n0;0,5;1,5e-6\n1;-0,25;-2e-7\n"))
    np.testing.assert_allclose(sweep.voltage, [0.5, -0.25])
    np.testing.assert_allclose(sweep.current, [1.5e-6, -2e-7])


def test_time_restarting_per_cycle_is_made_continuous(tmp_path):
    text = "time_s,voltage_V,current_A,cycle\n0,0,0,1\n1,1,1e-6,1\n2,-1,-1e-6,1\n0,0,0,2\n1,1,1e-6,2\n"
    sweep = read_iv(write(tmp_path, text))
    assert np.all(np.diff(sweep.time) > 0)
    np.testing.assert_allclose(sweep.time, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(sweep.cycle, [0, 0, 0, 1, 1])


def test_cycles_inferred_and_time_from_sweep_rate(tmp_path):
    text = "voltage_V,current_A\n0,0\n0.5,1e-6\n0,0\n-0.5,-1e-6\n0,0\n0.5,1e-6\n0,0\n"
    sweep = read_iv(write(tmp_path, text), sweep_rate=0.5)
    np.testing.assert_array_equal(sweep.cycle, [0, 0, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(sweep.time, np.arange(7) * 1.0)  # |dV| = 0.5 V at 0.5 V/s
    assert sweep.time_origin == "sweep rate 0.5 V/s"
    with pytest.raises(MeasurementError, match="no time column.*sweep rate"):
        read_iv(write(tmp_path, text))


def test_pulse_table_amplitude_from_bit_and_source_lines(tmp_path):
    text = ("address,wl_voltage_V,bl_voltage_V,sl_voltage_V,pulse_width_us,r_before_kohm,r_after_kohm\n"
            "0x01,1.2,1.5,0,10,80,11\n0x02,3.3,0,1.8,1,10.5,70\n")
    table = read_pulse(write(tmp_path, text))
    np.testing.assert_allclose(table.amplitude, [1.5, -1.8])
    np.testing.assert_allclose(table.width, [10e-6, 1e-6])
    np.testing.assert_allclose(table.r_before, [80e3, 10.5e3])
    assert table.amplitude_origin == "V_BL - V_SL"
    assert list(table.address) == ["0x01", "0x02"]


def test_pulse_table_explicit_amplitude(tmp_path):
    table = read_pulse(write(tmp_path, "Vpulse (V),PW (ns),R0 (ohm),R1 (ohm)\n1.2,50,1e5,1e4\n-1.4,50,1e4,9e4\n"))
    np.testing.assert_allclose(table.amplitude, [1.2, -1.4])
    np.testing.assert_allclose(table.width, [50e-9, 50e-9])
    assert table.amplitude_origin == "column 'Vpulse (V)'"


def test_distribution_states_and_default_state(tmp_path):
    dist = read_distribution(write(tmp_path, "cell,state,R_kohm\n1,lrs,10\n2,HRS,90\n3,LRS,11\n4,hrs,80\n"))
    assert dist.states == ["LRS", "HRS"]
    np.testing.assert_allclose(dist.of("HRS"), [90e3, 80e3])
    dist = read_distribution(write(tmp_path, "resistance_ohm\n100\n200\n"))
    assert dist.states == ["ALL"]


@pytest.mark.parametrize("name, kind", [("iv_sweep.csv", "iv"), ("pulse_table.csv", "pulse"),
                                        ("resistance_distribution.csv", "distribution")])
def test_bundled_examples_read(name, kind):
    data = read_measurement(EXAMPLES / name, kind)
    assert len(data) > 100


# ------------------------------------------------------------------ headerless files, positions, bad data


REAL_SET_ROWS = """\
0\t2e-08\t0.5\t0.5\t151240.47066190236\t115068.98689767806
2\t2e-08\t0.5\t1.0\t123855.30221262747\t124977.56570623025
4\t2e-08\t0.5\t1.5\t127236.98969285807\t106676.19674208992
6\t2e-08\t0.5\t2.0\t93031.9827702343\t133852.64516643377
"""


def test_headerless_tab_file_with_columns_by_position(tmp_path):
    """The real array's export: tab-separated, no header; columns named by 1-based position."""
    path = write(tmp_path, "0\t151240.47\n2\t123855.30\n4\t9726.19\n", "cells.tsv")
    with pytest.raises(MeasurementError, match=r"no header row and 2 columns.*--column resistance=N"):
        read_distribution(path)
    dist = read_distribution(path, columns={"resistance": 2, "address": "1"}, header=False)
    np.testing.assert_allclose(dist.resistance, [151240.47, 123855.30, 9726.19])
    assert list(dist.address) == ["0", "2", "4"]
    assert dist.source.header is False and dist.source.columns == {"resistance": "#2", "address": "#1"}
    assert dist.source.units == {"resistance": "ohm"}
    auto = read_distribution(path, columns={"resistance": "2"})  # a first row of numbers only is data
    np.testing.assert_array_equal(auto.resistance, dist.resistance)
    with pytest.raises(MeasurementError, match="column position 3 .* outside the file's 2 columns"):
        read_distribution(path, columns={"resistance": 3})


def test_position_also_works_in_a_file_with_a_header(tmp_path):
    path = write(tmp_path, "cell,R_read (kOhm)\n1,10\n2,80\n")
    dist = read_distribution(path, columns={"resistance": 2})
    np.testing.assert_allclose(dist.resistance, [10e3, 80e3])  # the unit still comes from the header
    assert dist.source.columns == {"resistance": "R_read (kOhm)", "address": "cell"}


def test_excel_error_cells_are_bad_data_counted_not_comments(tmp_path):
    """`#N/A` first on a row used to be skipped silently as a comment line (issue 12, item 8)."""
    path = write(tmp_path, "# instrument: PXI\nstate,resistance_kohm\nLRS,10\n#N/A,80\nHRS,#VALUE!\nHRS,81\n"
                           "LRS,11\nHRS,#N/A\nHRS,79\n")
    dist = read_distribution(path)
    assert dist.source.dropped == {"excel_error": 3}
    assert dist.source.rows_in_file == 7 and dist.source.rows_used == 4
    assert sorted(dist.source.dropped_lines["excel_error"]) == [4, 5, 8]
    assert dist.states == ["LRS", "HRS"]
    assert "dropped 3 row(s): Excel error cell" in dist.source.summary()
    assert dist.source.metadata == {"instrument": "PXI"}  # real comments still are comments
    with pytest.raises(MeasurementError, match=r"Excel error cell .*'#VALUE!' where the resistance") as error:
        read_distribution(path, strict=True)
    assert error.value.line == 5 and error.value.column == "resistance_kohm"


def test_drops_are_counted_per_reason_and_summarised(tmp_path):
    text = ("address,pulse_width_ns,v_bl,v_sl,r_before_ohm,r_after_ohm\n"
            "1,100,1.5,0,1e5,1e4\n2,100,1.5,0,nan,1e4\n3,0,1.5,0,1e5,1e4\n4,100,1.5,0,1e5,5e12\n"
            "5,100,1.5,0,-3,1e4\n6,100,1.5,0,,1e4\n7,100,1.5,0,9e4,2e4\n")
    table = read_pulse(write(tmp_path, text))
    assert table.source.dropped == {"non_finite": 1, "empty": 1, "not_positive": 2, "open_circuit": 1}
    assert list(table.address) == ["1", "7"]
    summary = table.source.summary()
    assert "2 of 7 data rows used" in summary and "above the open-circuit ceiling 1e+09 ohm" in summary
    relaxed = read_pulse(write(tmp_path, text), open_circuit_ohm=None)
    assert "open_circuit" not in relaxed.source.dropped and len(relaxed) == 3


def test_real_sweep_shape_with_pulsed_line_and_constants(tmp_path):
    """address, width, V_WL, V_line, R_before, R_after without a header (the bundled sweeps)."""
    path = write(tmp_path, REAL_SET_ROWS, "set.tsv")
    columns = {"address": 1, "width": 2, "wl_voltage": 3, "line_voltage": 4, "r_before": 5, "r_after": 6}
    table = read_pulse(path, columns=columns, pulsed_line="bl", read_voltage=0.2)
    np.testing.assert_allclose(table.bl_voltage, [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(table.sl_voltage, 0.0)
    np.testing.assert_allclose(table.amplitude, [0.5, 1.0, 1.5, 2.0])
    assert table.has_terminals and table.read_voltage == 0.2
    assert table.source.constants == {"sl_voltage": 0.0}
    reset = read_pulse(path, columns=columns, pulsed_line="sl")
    np.testing.assert_allclose(reset.amplitude, [-0.5, -1.0, -1.5, -2.0])
    same = read_pulse(path, columns={**{k: v for k, v in columns.items() if k != "line_voltage"}, "bl_voltage": 4},
                      constants={"sl_voltage": 0})
    np.testing.assert_array_equal(same.amplitude, table.amplitude)
    with pytest.raises(MeasurementError, match="--constant sl_voltage=0"):
        read_pulse(path, columns={**{k: v for k, v in columns.items() if k != "line_voltage"}, "bl_voltage": 4})
    with pytest.raises(MeasurementError, match="say which line was pulsed"):
        read_pulse(path, columns=columns)


def test_another_labs_layout_reads_the_same_numbers(tmp_path):
    """Different column order, a header, other units, commas, gzip: the same pulses."""
    import gzip

    reference = read_pulse(write(tmp_path, REAL_SET_ROWS, "set.tsv"), pulsed_line="bl",
                           columns={"address": 1, "width": 2, "wl_voltage": 3, "line_voltage": 4, "r_before": 5,
                                    "r_after": 6})
    rows = [line.split("\t") for line in REAL_SET_ROWS.splitlines()]
    text = "R_after (kohm),R_before (kohm),Vg/mV,VBL_V,tpulse_ns,cell\n" + "".join(
        f"{float(r[5]) / 1e3!r},{float(r[4]) / 1e3!r},{float(r[2]) * 1e3:g},{r[3]},{float(r[1]) * 1e9:g},{r[0]}\n"
        for r in rows)
    path = tmp_path / "other_lab.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    other = read_pulse(path, columns={"wl_voltage": "Vg/mV", "bl_voltage": "VBL_V"}, constants={"sl_voltage": 0})
    for name in ("width", "r_before", "r_after", "wl_voltage", "bl_voltage", "sl_voltage", "amplitude"):
        np.testing.assert_allclose(getattr(other, name), getattr(reference, name), rtol=1e-12, err_msg=name)
    assert other.source.units["wl_voltage"] == "mV"


def test_read_voltage_from_option_or_file_comment(tmp_path):
    text = "# read voltage: 200 mV\nresistance_ohm\n100\n200\n"
    dist = read_distribution(write(tmp_path, text))
    assert dist.read_voltage == pytest.approx(0.2) and "file comment" in dist.source.read_voltage_origin
    assert read_distribution(write(tmp_path, text), read_voltage=0.1).read_voltage == 0.1
    assert read_distribution(write(tmp_path, "resistance_ohm\n100\n200\n")).read_voltage is None
    with pytest.raises(MeasurementError, match="not a voltage"):
        read_distribution(write(tmp_path, "# v_read: high\nresistance_ohm\n100\n200\n"))


def test_state_for_the_whole_file_and_joined_files(tmp_path):
    from circuitkit.measurements import ResistanceDistribution

    lrs = read_distribution(write(tmp_path, "9e3\n9.5e3\n", "a.tsv"), columns={"resistance": 1},
                            constants={"state": "lrs"})
    hrs = read_distribution(write(tmp_path, "9e4\n9.5e4\n8e4\n", "b.tsv"), columns={"resistance": 1},
                            constants={"state": "HRS"})
    both = ResistanceDistribution.join([lrs, hrs])
    assert both.states == ["LRS", "HRS"] and len(both.of("HRS")) == 3 and len(both.sources) == 2
    with pytest.raises(MeasurementError, match="need a state label each"):
        ResistanceDistribution.join([lrs, read_distribution(write(tmp_path, "1\n2\n", "c.tsv"),
                                                            columns={"resistance": 1})])


# ------------------------------------------------------------------ clear errors


ERROR_CASES = [
    # (kind, text, message fragment, line, column)
    ("iv", "", "empty", None, None),
    ("iv", "# only a comment\n\n", "empty", None, None),
    ("iv", "time_s,voltage_V,current_A\n", "no data rows", 1, None),
    ("iv", "time_s,voltage_V,current_A\n0,0.1,1e-6\n", "only 1 usable data row", 2, None),
    ("iv", "time_s,voltage_V\n0,0\n1,1\n", "missing column.*current", 1, None),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,abc,1e-6\n", "'abc' is not a number", 3, "voltage_V"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1,nan\n", "NaN", 3, "current_A"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1,inf\n", "infinite", 3, "current_A"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,,1e-6\n", "empty cell", 3, "voltage_V"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,#N/A,1e-6\n", "Excel error cell", 3, "voltage_V"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1\n", "expected 3 fields", 3, None),
    ("iv", "time_s,voltage_V,current_furlong\n0,0,0\n1,1,1\n", "unknown current unit 'furlong'", 1, "current_furlong"),
    ("iv", "time_s,voltage (parsec),current_A\n0,0,0\n1,1,1\n", "unknown voltage unit 'parsec'", 1,
     "voltage (parsec)"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1,1e-6\n0.5,0,0\n", "time does not increase", 4, "time_s"),
    ("iv", "time_s,voltage_V,current_A,cycle\n0,0,0,2\n1,1,1e-6,1\n", "cycle index goes back", 3, "cycle"),
    ("iv", "time_s,voltage_V,current_A,cycle\n0,0,0,1.5\n1,1,1e-6,2\n", "not a whole number", 2, "cycle"),
    ("iv", "time_s,voltage_V,current_A\n0,0.2,0\n1,0.2,1e-6\n", "never changes", 2, "voltage_V"),
    ("iv", "0,0,0\n1,1,1\n", "no header row and 3 columns", 1, None),
    ("iv", "voltage_V,v_mV,current_A\n0,0,0\n1,1,1\n", "several columns could be the voltage", 1, None),
    ("pulse", "pulse_width_us,r_before_kohm,r_after_kohm\n1,10,80\n2,10,80\n", "missing the pulse amplitude", 1, None),
    ("pulse", "amplitude_V,pulse_width_us,r_before_kohm,r_after_kohm\n1,1,10,80\n1,1,-10,80\n", "negative resistance",
     3, "r_before_kohm"),
    ("pulse", "amplitude_V,pulse_width_us,r_before_kohm,r_after_kohm\n1,0,10,80\n1,1,10,80\n", "zero pulse width",
     2, "pulse_width_us"),
    ("distribution", "state,resistance_ohm\nLRS,-5\nLRS,10\n", "negative resistance", 2, "resistance_ohm"),
    ("distribution", "state,resistance_ohm\nLRS,5\nLRS,10\nHRS,90\n", "state 'HRS' has a single cell", 4, "state"),
    ("distribution", "state,resistance_ohm\n,5\nLRS,10\n", "empty state label", 2, "state"),
]


@pytest.mark.parametrize("kind, text, message, line, column", ERROR_CASES)
def test_malformed_files_name_file_line_and_column(tmp_path, kind, text, message, line, column):
    """Strict reading: every bad row is an error naming file, line and column."""
    path = write(tmp_path, text)
    with pytest.raises(MeasurementError, match=message) as error:
        read_measurement(path, kind, strict=True)
    assert error.value.path == path
    assert str(path) in str(error.value)
    assert error.value.line == line
    assert error.value.column == column
    if column:
        assert repr(column) in str(error.value)


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(MeasurementError, match="cannot read the file"):
        read_iv(tmp_path / "nope.csv")
    with pytest.raises(MeasurementError, match="NUL bytes"):
        read_iv(write(tmp_path, b"time,voltage,current\x00\n"))


def test_unknown_option_quantity(tmp_path):
    with pytest.raises(MeasurementError, match="unknown quantity 'colour'"):
        read_iv(write(tmp_path, LAB_IV), units={"colour": "V"})
    with pytest.raises(MeasurementError, match="no column named 'Vx'"):
        read_iv(write(tmp_path, LAB_IV), columns={"voltage": "Vx"})


def test_measurement_error_is_the_project_error():
    assert issubclass(MeasurementError, CircuitkitError)


# ------------------------------------------------------------------ fuzzing

READERS = {"iv": read_iv, "pulse": read_pulse, "distribution": read_distribution}
VALID = {
    "iv": ("time_s,voltage_V,current_uA,cycle", lambda k: [f"{k * 0.01:.2f}", f"{np.sin(k / 3):.3f}",
                                                           f"{np.sin(k / 3) * 10:.3f}", "1"]),
    "pulse": ("amplitude_V,pulse_width_us,r_before_kohm,r_after_kohm",
              lambda k: [f"{(-1) ** k * 1.5:.2f}", "10", f"{10 + k}", f"{80 - k}"]),
    "distribution": ("state,resistance_kohm", lambda k: ["LRS" if k % 2 else "HRS", f"{10 + 70 * (k % 2 == 0)}"]),
}
JUNK = st.text(alphabet=string.ascii_letters + "#%$!?", min_size=1, max_size=6).filter(lambda s: s.lower() not in
                                                                                        ("nan", "inf", "infinity"))


def _valid_rows(kind: str, n: int) -> tuple[list[str], list[list[str]]]:
    header, row = VALID[kind]
    return header.split(","), [row(k) for k in range(n)]


def _render(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n"


@st.composite
def corrupted_files(draw):
    """A valid file of some kind with one corruption that must make it unreadable."""
    kind = draw(st.sampled_from(sorted(VALID)))
    header, rows = _valid_rows(kind, draw(st.integers(4, 12)))
    numeric = [k for k, name in enumerate(header) if name not in ("state", "cycle")]
    how = draw(st.sampled_from(["junk", "nan", "empty_cell", "drop_column", "no_rows", "one_row", "extra_field",
                                "missing_field", "negative_r", "binary", "inf", "excel"]))
    r = draw(st.integers(0, len(rows) - 1))
    c = draw(st.sampled_from(numeric))
    # '#' first on a line makes the row a comment, which the readers skip by design: no corruption.
    junk = JUNK.filter(lambda s: not s.startswith("#")) if c == 0 else JUNK
    if how == "excel":
        rows[r][c] = draw(st.sampled_from(["#N/A", "#VALUE!", "#DIV/0!", "#REF!", "#NUM!"]))
    elif how == "junk":
        rows[r][c] = draw(junk)
    elif how == "nan":
        rows[r][c] = draw(st.sampled_from(["nan", "NaN", "-nan"]))
    elif how == "inf":
        rows[r][c] = draw(st.sampled_from(["inf", "-Infinity", "1e999"]))
    elif how == "empty_cell":
        rows[r][c] = ""
    elif how == "drop_column":
        required = [k for k, name in enumerate(header) if name not in ("state", "cycle", "time_s")]
        drop = draw(st.sampled_from(required))
        header = header[:drop] + header[drop + 1:]
        rows = [row[:drop] + row[drop + 1:] for row in rows]
    elif how == "no_rows":
        rows = []
    elif how == "one_row":
        rows = rows[:1]
    elif how == "extra_field":
        rows[r].append("1")
    elif how == "missing_field":
        rows[r].pop()
    elif how == "negative_r":
        if kind == "iv":
            rows[r][c] = draw(junk)
        else:
            col = header.index(draw(st.sampled_from([h for h in header if h.startswith("r")])))
            rows[r][col] = draw(st.sampled_from(["-1", "0", "-0.5e3"]))
    text = _render(header, rows).encode()
    if how == "binary":
        text = text[: draw(st.integers(0, len(text)))] + b"\x00" + draw(st.binary(max_size=20))
    if how == "negative_r" and kind == "iv":
        how = "junk"
    return kind, text, how


BAD_VALUES = ("nan", "inf", "empty_cell", "negative_r", "excel")  # bad data: dropped and counted, or strict errors


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=corrupted_files())
def test_fuzz_corrupted_files_raise_measurement_error(tmp_path, case):
    """Strict reading: every corruption is a MeasurementError naming the file. Default
    reading: a bad value drops its row, counted under its reason; anything else is an error."""
    kind, text, how = case
    path = write(tmp_path, text)
    with pytest.raises(MeasurementError) as error:
        READERS[kind](path, strict=True)
    assert str(path) in str(error.value), how
    if how not in BAD_VALUES:
        with pytest.raises(MeasurementError):
            READERS[kind](path)
        return
    try:
        data = READERS[kind](path)
    except MeasurementError as error:  # too few rows (or a state with one cell) left after the drop
        assert str(path) in str(error) and ("usable data row" in str(error) or "single cell" in str(error)), how
        return
    assert sum(data.source.dropped.values()) >= 1, how
    assert data.source.rows_used == data.source.rows_in_file - sum(data.source.dropped.values())
    assert len(data) == data.source.rows_used


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(VALID)),
       text=st.one_of(st.binary(max_size=300),
                      st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
                      st.lists(st.lists(st.one_of(JUNK, st.floats(allow_nan=True).map(repr),
                                                  st.sampled_from(["", "nan", "-1", "0", "1e999", "LRS", "µA"])),
                                        max_size=5), max_size=8)
                      .map(lambda rows: "\n".join(",".join(r) for r in rows))))
def test_fuzz_arbitrary_bytes_never_escape_as_other_errors(tmp_path, kind, text):
    """Whatever the bytes: either a measurement comes back, or MeasurementError; nothing else."""
    path = write(tmp_path, text)
    try:
        result = READERS[kind](path, sweep_rate=1.0) if kind == "iv" else READERS[kind](path)
    except MeasurementError as error:
        assert str(path) in str(error)
        return
    assert len(result) >= 2
