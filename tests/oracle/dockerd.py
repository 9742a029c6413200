"""Run the real ``dockerd --validate`` (Debian's docker.io 26.1.5) on daemon.json files.

The binary comes from ``scripts/fetch-dockerd`` (``FLEETCFG_DOCKERD_DIR``, default
``/var/cache/fleetcfg/docker.io``). ``<dir>/usr/sbin`` goes first on ``PATH`` so that
dockerd finds ``docker-proxy`` for the default ``userland-proxy: true``; we never pass
``--userland-proxy-path`` because a flag plus the same key in the file is itself a
fatal conflict.

A missing binary is an error (:class:`DockerdMissingError`), never a skip: CI fetches
dockerd before it runs the tests.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DOCKERD_DIR = Path("/var/cache/fleetcfg/docker.io")
OK_TEXT = "configuration OK"
#: dockerd's wrapper around every error raised while loading the file
FILE_PREFIX = "unable to configure the Docker daemon with file "


class DockerdMissingError(RuntimeError):
    """The dockerd oracle is not installed where the tests look for it."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``dockerd --validate --config-file F`` did with one file.

    ``message`` is dockerd's stderr with the config file's path replaced by ``F``
    (so messages are comparable whatever the temporary path was).
    """

    accepted: bool
    returncode: int
    message: str

    @property
    def error(self) -> str:
        """The error text without the ``unable to configure ... with file F: `` prefix."""
        text = self.message.strip()
        prefix = FILE_PREFIX + "F: "
        return text.removeprefix(prefix) if text.startswith(prefix) else text


def dockerd_dir() -> Path:
    return Path(os.environ.get("FLEETCFG_DOCKERD_DIR") or DEFAULT_DOCKERD_DIR)


def dockerd_binary() -> Path:
    """The dockerd executable, or :class:`DockerdMissingError` saying how to get it."""
    base = dockerd_dir()
    exe = base / "usr" / "sbin" / "dockerd"
    proxy = base / "usr" / "sbin" / "docker-proxy"
    missing = [str(p) for p in (exe, proxy) if not os.access(p, os.X_OK)]
    if missing:
        raise DockerdMissingError(
            f"the dockerd oracle is missing ({', '.join(missing)} not found or not "
            "executable). Run scripts/fetch-dockerd (it downloads Debian's docker.io "
            "26.1.5) or point FLEETCFG_DOCKERD_DIR at the folder it printed."
        )
    return exe


def _env() -> dict[str, str]:
    sbin = str(dockerd_dir() / "usr" / "sbin")
    return {
        "PATH": f"{sbin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C",
    }


def dockerd_version() -> str:
    out = subprocess.run(
        [str(dockerd_binary()), "--version"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
        timeout=60,
    )
    return out.stdout.strip()


def validate_file(path: Path, *, timeout: float = 60) -> Verdict:
    """Run ``dockerd --validate --config-file path``."""
    exe = dockerd_binary()
    proc = subprocess.run(
        [str(exe), "--validate", "--config-file", str(path)],
        capture_output=True,
        env=_env(),
        check=False,
        timeout=timeout,
    )
    stderr = proc.stderr.decode("utf-8", errors="replace")
    message = stderr.replace(str(path), "F").strip()
    accepted = proc.returncode == 0 and OK_TEXT in stderr
    return Verdict(accepted=accepted, returncode=proc.returncode, message=message)


def validate_bytes(raw: bytes, *, name: str = "daemon.json") -> Verdict:
    """Write ``raw`` to a private temporary file and validate it."""
    with tempfile.TemporaryDirectory(prefix="fleetcfg-oracle-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        return validate_file(path)


def validate_many(paths: Iterable[Path], *, workers: int | None = None) -> dict[Path, Verdict]:
    """Validate many files in parallel (each run is a separate ~40 ms process)."""
    items = list(paths)
    dockerd_binary()  # fail once, clearly, before starting threads
    n = workers or min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=n) as pool:
        return dict(zip(items, pool.map(validate_file, items), strict=True))


def validate_many_bytes(
    docs: Mapping[str, bytes], *, workers: int | None = None
) -> dict[str, Verdict]:
    """Validate named in-memory documents in parallel."""
    with tempfile.TemporaryDirectory(prefix="fleetcfg-oracle-") as tmp:
        paths: dict[str, Path] = {}
        for i, (key, raw) in enumerate(docs.items()):
            p = Path(tmp) / f"doc{i}.json"
            p.write_bytes(raw)
            paths[key] = p
        verdicts = validate_many(paths.values(), workers=workers)
        return {key: verdicts[p] for key, p in paths.items()}
