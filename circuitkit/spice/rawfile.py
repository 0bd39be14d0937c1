"""Read SPICE raw files (binary or ASCII, real or complex) as written by `ngspice -r`/`write`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError


@dataclasses.dataclass(frozen=True)
class Plot:
    """One analysis result: vectors by lower-case name (`time`, `v(out)`, `i(vdd)`, ...)."""

    name: str
    vectors: dict[str, np.ndarray]


def vector_name(raw_name: str, kind: str | None = None) -> str:
    """The spelling a user types into ngspice for a vector ngspice names `raw_name`:
    bare node voltages become `v(node)`, branch currents `vdd#branch` become `i(vdd)`;
    scales (`time`, `frequency`, `*-sweep`), expressions and `@device[param]` stay as
    they are. `kind` is the raw file's variable type where known (only voltages get v())."""
    name = raw_name.lower()
    if name.endswith("#branch"):
        return f"i({name[: -len('#branch')]})"
    bare = "(" not in name and not name.startswith("@") and name not in ("time", "frequency") and not name.endswith("-sweep")
    return f"v({name})" if bare and kind in (None, "voltage") else name


def read_raw(path: Path | str) -> list[Plot]:
    """All plots of a raw file, in file order."""
    path = Path(path)
    data = path.read_bytes()
    plots: list[Plot] = []
    position = 0
    while position < len(data):
        header: dict[str, str] = {}
        variables: list[tuple[str, str]] = []
        while True:
            end = data.index(b"\n", position)
            line = data[position:end].decode("latin-1")
            position = end + 1
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "variables":
                count = int(header["no. variables"])
                for _ in range(count):
                    end = data.index(b"\n", position)
                    fields = data[position:end].decode("latin-1").split()
                    position = end + 1
                    variables.append((fields[1], fields[2] if len(fields) > 2 else ""))
                continue
            if key in ("binary", "values"):
                break
            header[key] = value.strip()
        points = int(header["no. points"])
        complex_data = "complex" in header.get("flags", "")
        width = len(variables) * (2 if complex_data else 1)
        if key == "binary":
            count = points * width
            values = np.frombuffer(data, dtype="<f8", count=count, offset=position).reshape(points, width)
            position += count * 8
        else:
            tokens: list[float] = []
            while len(tokens) < points * width:
                end = data.find(b"\n", position)
                end = len(data) if end < 0 else end
                fields = data[position:end].decode("latin-1").replace(",", " ").split()
                position = end + 1
                # ASCII rows start with the point index on the first variable's line.
                numbers = fields[1:] if len(tokens) % width == 0 and len(fields) > 1 else fields
                tokens.extend(float(f) for f in numbers)
            values = np.asarray(tokens).reshape(points, width)
        if complex_data:
            values = values[:, 0::2] + 1j * values[:, 1::2]
        vectors = {vector_name(name, kind): values[:, index].copy() for index, (name, kind) in enumerate(variables)}
        plots.append(Plot(header.get("plotname", ""), vectors))
        while position < len(data) and data[position : position + 1] in (b"\n", b"\r"):
            position += 1
    if not plots:
        raise CircuitkitError(f"raw file {path} holds no plot")
    return plots
