"""`circuitkit demo`: the flow on the bundled data, as `make demo` runs it (`demo_flow`).

The bundled data ship inside the package (`circuitkit.resources.bundled_data`), so an
installed circuitkit runs its demo without the repository.
"""

from __future__ import annotations

from pathlib import Path

from circuitkit.flow.config import FlowConfig
from circuitkit.resources import bundled_data


def demo_flow(output: Path | str) -> FlowConfig:
    """The flow `make demo` runs: real devices (the bundled 130 nm 1T1R array data: low-field
    reads of 32 levels, the SET and RESET sweeps with the cycling log, the programmed LRS/HRS distributions, the
    85/130 C bakes for relaxation and a BER-vs-time line),
    three corners, two supplies, a ternary read at its near-threshold supply, rare-event
    rows, bundled BNN/TNN, read disturb over a lifetime at four corners."""
    from circuitkit.corners.disturb import DisturbConfig
    from circuitkit.device.characterize import MeasurementSpec
    from circuitkit.mlc.campaign import MlcConfig
    from circuitkit.program.tradeoff import TradeoffConfig

    data = bundled_data("rram-1t1r-130nm")
    sweep = {"address": 1, "width": 2, "wl_voltage": 3, "line_voltage": 4, "r_before": 5, "r_after": 6}
    return FlowConfig(
        output=Path(output),
        levels=MeasurementSpec((data / "read_voltage_sweep.tsv.gz",), header=False, read_voltage=0.2,
                               columns={"address": 1, "voltage": 2, "current": 3}),
        # the rate spread split into a cell's own offset and a per-pulse part by the cycling log
        pulse=MeasurementSpec((data / "set_sweep.tsv.gz", data / "reset_sweep.tsv.gz"), header=False, columns=sweep,
                              pulsed_line=("bl", "sl"), read_voltage=0.2, cycling=data / "endurance_log.csv.gz",
                              read_series=data / "ret1.csv.gz"),
        # LRS: the cells before the RESET sweep (all SET); HRS: the cells before the SET sweep (RESET).
        distribution=MeasurementSpec((data / "reset_sweep.tsv.gz", data / "set_sweep.tsv.gz"), header=False,
                                     columns={"resistance": 5, "address": 1}, states=("LRS", "HRS"), read_voltage=0.2),
        mlc=MlcConfig(cells_per_level=64),  # 2,048 cells beside the real 32-level runs, a few seconds
        # The 1 h bakes at 85 and 130 C of the same 16,384 cells, before and after (paired by address).
        retention=MeasurementSpec(tuple(data / f"{stage}bake{temp}.tsv.gz" for temp in (85, 130)
                                        for stage in ("pre", "post")), header=False,
                                  columns={"address": 1, "resistance": 2}, read_voltage=0.2,
                                  times=("0", "1h", "0", "1h"), temperatures=("25", "85", "25", "130"),
                                  runs=("bake85", "bake85", "bake130", "bake130")),
        # a weak and a strong compliance, single pulse and verify: 4 conditions x 320 cells, about 2 min
        program=TradeoffConfig(v_wl=(1.0, 1.6), verify=(False, True), cells=320, batch_size=80, read_samples=64,
                               offset_samples=16, trials=10),
        # read disturb at the high supplies, cold and hot, tt and ff, as designed, with the clamp and with the
        # slew-limited word line (DisturbConfig defaults): ~3 min at load (172 s measured, 81 s CPU)
        disturb=DisturbConfig(corners=("tt", "ff"), vdd=(1.98,), ternary_vdd=(0.99,), temp_c=(27.0, 125.0), reads=100),
    )
