"""A cloud-config document that lands a :class:`~fleetcfg.plan.tree.Tree` on a
new machine before dockerd first starts (``fleetcfg cloud-init``).

When the files land
-------------------
cloud-init's ``write_files`` runs in its network stage, which is ordered
``Before=network-online.target`` (and ``Before=sysinit.target`` on Debian and
Ubuntu); ``docker.service`` starts ``After=network-online.target``. So
daemon.json is in place before dockerd's first start and no restart is needed
at boot. root's config.json is written then too; the config.json of other
users is written with ``defer: true`` (the final stage, after
``users_groups`` has created the users that own them): the docker CLI reads it
on every call, so it does not matter that dockerd is already up.

The check
---------
``runcmd`` (run in the final stage, after ``multi-user.target``) runs
``fleetcfg-boot-check`` (written by ``write_files`` too): every file still
hashes as written, ``docker info`` answers, and dockerd reports the registry
mirrors, live-restore and log driver daemon.json sets. If dockerd started
before the file was written (an image that starts docker early, a boot race),
it fails and says so; cloud-init then reports the run as failed
(``cloud-init status --long``).

Encoding
--------
Content that is printable ASCII text ending in a newline is written as a
YAML literal block (readable in the user-data); anything else is base64
(``encoding: b64``).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from fleetcfg.plan.model import FileKind
from fleetcfg.plan.tree import Tree, TreeFile

CHECK_PATH = "/usr/local/sbin/fleetcfg-boot-check"
#: seconds the check waits for ``docker info`` to answer
DEFAULT_CHECK_TIMEOUT = 300


def boot_check_program() -> str:
    """The text of ``fleetcfg-boot-check`` (POSIX sh, shipped as package data)."""
    return (resources.files("fleetcfg") / "data" / "boot-check.sh").read_text()


def _is_plain_text(content: bytes) -> bool:
    if not content.endswith(b"\n"):
        return False
    for line in content.split(b"\n"):
        if line != line.rstrip(b" "):
            return False
        if any(not 0x20 <= byte < 0x7F for byte in line):
            return False
    return True


def _content(content: bytes) -> dict[str, Any]:
    if _is_plain_text(content):
        return {"content": LiteralScalarString(content.decode("ascii"))}
    return {"encoding": "b64", "content": base64.b64encode(content).decode("ascii")}


def _write_file(file: TreeFile) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": file.path,
        "permissions": f"{file.mode:04o}",
        "owner": f"{file.owner}:{file.group}",
    }
    if file.kind is FileKind.CLIENT and file.owner != "root":
        entry["defer"] = True  # after users_groups created the user
    entry.update(_content(file.content))
    return entry


def go_json(value: Any) -> str:
    """``value`` as Go's ``encoding/json`` prints it (what ``docker info
    --format '{{json ...}}'`` shows): compact, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def check_command(tree: Tree, *, timeout: int = DEFAULT_CHECK_TIMEOUT) -> list[str]:
    """The runcmd entry that checks dockerd came up with ``tree``."""
    argv = [CHECK_PATH, "--timeout", str(timeout)]
    for file in tree.files:
        argv += ["--file", f"{file.sha256}  {file.path}"]
    daemon = next((f for f in tree.files if f.kind is FileKind.DAEMON), None)
    if daemon is not None:
        mirrors = daemon.data.get("registry-mirrors")
        if isinstance(mirrors, list) and mirrors:
            argv += ["--mirrors", go_json([str(m).rstrip("/") for m in mirrors])]
        live_restore = daemon.data.get("live-restore")
        if isinstance(live_restore, bool):
            argv += ["--live-restore", "true" if live_restore else "false"]
        log_driver = daemon.data.get("log-driver")
        if isinstance(log_driver, str) and log_driver:
            argv += ["--log-driver", log_driver]
    return argv


def cloud_config(
    tree: Tree, *, check: bool = True, timeout: int = DEFAULT_CHECK_TIMEOUT
) -> dict[str, Any]:
    """The cloud-config document (as data) that writes ``tree`` and, with
    ``check``, verifies at the end of the boot that dockerd runs with it."""
    write_files = [_write_file(f) for f in tree.files]
    document: dict[str, Any] = {"write_files": write_files}
    if check:
        write_files.append(
            {
                "path": CHECK_PATH,
                "permissions": "0755",
                "owner": "root:root",
                **_content(boot_check_program().encode()),
            }
        )
        document["runcmd"] = [check_command(tree, timeout=timeout)]
    return document


def cloud_config_text(document: dict[str, Any], *, header: Sequence[str] = ()) -> str:
    """``#cloud-config`` (the first line cloud-init requires), comment lines,
    then the document as YAML."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(document, out)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return "#cloud-config\n" + comments + out.getvalue()
