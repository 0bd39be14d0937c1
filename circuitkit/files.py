"""Artefact files: written so that a reader (or a resumed run) never sees a half-written
file, and identified by the hash of their content.

Neutral ground: every stage may use it; it imports nothing from circuitkit.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path


def write_atomic(path: Path | str, content: str | bytes) -> Path:
    """Write `content` to `path` through a temporary file in the same directory and a
    rename, which is atomic on POSIX: the file is either the old one or the new one,
    even if the process is killed mid-write. Parent directories are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    if isinstance(content, bytes):
        partial.write_bytes(content)
    else:
        partial.write_text(content)
    partial.replace(path)
    return path


def hash_file(digest, path: Path | str):
    """Feed the bytes of `path` into `digest` (a hashlib object), in 1 MiB blocks; return it."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


def file_hash(path: Path | str) -> str:
    """sha256 (hex) of a file's content."""
    return hash_file(hashlib.sha256(), path).hexdigest()


def write_rows_csv(path: Path | str, rows: list[dict]) -> Path:
    """Write dict rows as CSV (columns from the first row, floats with repr: exact round
    trip), atomically."""
    import csv
    import io

    if not rows:
        raise ValueError(f"{path}: no rows to write")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: repr(float(value)) if isinstance(value, float) else value for key, value in row.items()})
    return write_atomic(path, buffer.getvalue())


def write_json(path: Path | str, data) -> Path:
    """Write `data` as indented JSON (numpy scalars and arrays as plain numbers), atomically."""
    import json

    def plain(value):
        if hasattr(value, "tolist"):  # numpy scalars and arrays
            return value.tolist()
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    return write_atomic(path, json.dumps(data, indent=2, default=plain) + "\n")
