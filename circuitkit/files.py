"""Writing artefacts so that a reader (or a resumed run) never sees a half-written file."""

from __future__ import annotations

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
