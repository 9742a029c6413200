"""Writing a local file so that readers see the old content or the new one,
never a part of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder
    and a rename: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text if isinstance(text, bytes) else text.encode())
            out.flush()
            # on the open file, never by name: in a folder another user may
            # write (node-exporter's textfile folder), the name may be a
            # link to /etc/shadow by the time a chmod by name runs
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
