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


# ------------------------------------------------------------------ clear errors


ERROR_CASES = [
    # (kind, text, message fragment, line, column)
    ("iv", "", "empty", None, None),
    ("iv", "# only a comment\n\n", "empty", None, None),
    ("iv", "time_s,voltage_V,current_A\n", "no data rows", 1, None),
    ("iv", "time_s,voltage_V,current_A\n0,0.1,1e-6\n", "only 1 data row", 2, None),
    ("iv", "time_s,voltage_V\n0,0\n1,1\n", "missing column.*current", 1, None),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,abc,1e-6\n", "'abc' is not a number", 3, "voltage_V"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1,nan\n", "NaN", 3, "current_A"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1,inf\n", "not finite", 3, "current_A"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,,1e-6\n", "empty cell", 3, "voltage_V"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1\n", "expected 3 fields", 3, None),
    ("iv", "time_s,voltage_V,current_furlong\n0,0,0\n1,1,1\n", "unknown current unit 'furlong'", 1, "current_furlong"),
    ("iv", "time_s,voltage (parsec),current_A\n0,0,0\n1,1,1\n", "unknown voltage unit 'parsec'", 1,
     "voltage (parsec)"),
    ("iv", "time_s,voltage_V,current_A\n0,0,0\n1,1,1e-6\n0.5,0,0\n", "time does not increase", 4, "time_s"),
    ("iv", "time_s,voltage_V,current_A,cycle\n0,0,0,2\n1,1,1e-6,1\n", "cycle index goes back", 3, "cycle"),
    ("iv", "time_s,voltage_V,current_A,cycle\n0,0,0,1.5\n1,1,1e-6,2\n", "not a whole number", 2, "cycle"),
    ("iv", "time_s,voltage_V,current_A\n0,0.2,0\n1,0.2,1e-6\n", "never changes", 2, "voltage_V"),
    ("iv", "0,0,0\n1,1,1\n", "looks like data", 1, None),
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
    path = write(tmp_path, text)
    with pytest.raises(MeasurementError, match=message) as error:
        read_measurement(path, kind)
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
                                "missing_field", "negative_r", "binary", "inf"]))
    r = draw(st.integers(0, len(rows) - 1))
    c = draw(st.sampled_from(numeric))
    # '#' first on a line makes the row a comment, which the readers skip by design: no corruption.
    junk = JUNK.filter(lambda s: not s.startswith("#")) if c == 0 else JUNK
    if how == "junk":
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
    return kind, text, how


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=corrupted_files())
def test_fuzz_corrupted_files_raise_measurement_error(tmp_path, case):
    kind, text, how = case
    path = write(tmp_path, text)
    with pytest.raises(MeasurementError) as error:
        READERS[kind](path)
    assert str(path) in str(error.value), how


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
