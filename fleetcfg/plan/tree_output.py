"""The output folder of ``fleetcfg render -o DIR``: ``rootfs/`` (each file with
its mode), ``manifest.json`` and ``install.sh`` (puts the files in place with
their modes and owners on the machine being built, and checks their sha256).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from fleetcfg.core.errors import UsageError
from fleetcfg.plan.tree import MANIFEST, ROOTFS, Tree, manifest_json

INSTALL = "install.sh"


def install_script(tree: Tree) -> str:
    """``install.sh`` for ``tree``: the shipped functions, then one ``put``
    line per file."""
    text = (resources.files("fleetcfg") / "data" / "install-tree.sh").read_text()
    lines = [
        shlex.join(
            [
                "put",
                f"{ROOTFS}{file.path}",
                file.path,
                f"{file.mode:04o}",
                file.owner,
                file.group,
                file.sha256,
            ]
        )
        for file in tree.files
    ]
    return text + "\n".join(lines) + "\n"


def _directory_mode(relative: PurePosixPath) -> int:
    """Private homes and ~/.docker are 0700 (as apply creates ~/.docker);
    the rest 0755."""
    parts = relative.parts
    if parts in (("root",),) or (parts and parts[-1] == ".docker"):
        return 0o700
    return 0o755


def _is_render_output(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and str(manifest.get("generator", "")).startswith("fleetcfg")


def write_tree(tree: Tree, manifest: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``rootfs/`` (each file with its mode), ``manifest.json`` and ``install.sh``
    into ``out_dir`` (mode 0700: the files hold secrets in clear). A folder
    that holds an earlier output is replaced whole, and only once the new
    one is complete; any other non-empty folder is refused."""
    target = Path(out_dir)
    used = target.exists() and (not target.is_dir() or any(target.iterdir()))
    if used and not _is_render_output(target):
        raise UsageError(
            f"{target} exists and is not an earlier fleetcfg render output "
            f"(no {MANIFEST} from fleetcfg)",
            hint="pass a new or empty folder to -o",
        )
    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        for file in tree.files:
            relative = PurePosixPath(file.path.lstrip("/"))
            for n in range(1, len(relative.parts)):
                folder = PurePosixPath(*relative.parts[:n])
                path = work / ROOTFS / folder
                if not path.exists():
                    path.mkdir(parents=True)
                    path.chmod(_directory_mode(folder))
            fd = os.open(work / ROOTFS / relative, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file.mode)
            with os.fdopen(fd, "wb") as out:
                out.write(file.content)
            (work / ROOTFS / relative).chmod(file.mode)
        (work / MANIFEST).write_text(manifest_json(manifest))
        (work / INSTALL).write_text(install_script(tree))
        (work / INSTALL).chmod(0o755)
        work.chmod(0o700)
        old: Path | None = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=parent))
            target.rename(old / "out")
        work.rename(target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target
