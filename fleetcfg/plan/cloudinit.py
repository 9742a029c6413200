"""A cloud-config document that lands a :class:`~fleetcfg.plan.tree.Tree` on a
new machine before dockerd first starts (``fleetcfg cloud-init``).

When the files land
-------------------
cloud-init's ``write_files`` runs in its network stage (``cloud-init.service``,
the ``cloud_init_modules`` of /etc/cloud/cloud.cfg), which is ordered
``Before=network-online.target`` (and ``Before=sysinit.target`` on Debian and
Ubuntu); ``docker.service`` starts ``After=network-online.target``. So
daemon.json is in place before dockerd's first start and no restart is needed
at boot. root's config.json is written then too; the config.json of other
users is written with ``defer: true`` (the final stage, after
``users_groups`` has created the users that own them): the docker CLI reads it
on every call, so it does not matter that dockerd is already up.

docker.service's drop-ins (the proxy's http-proxy.conf) are another matter:
systemd loads a unit and its drop-ins when it starts and on ``systemctl
daemon-reload`` only, so a drop-in write_files writes during boot is on disk
but not in effect when docker.service starts (``systemctl show docker -p
NeedDaemonReload`` says ``yes``, ``DropInPaths`` does not list it). They are
written by ``bootcmd`` instead, the first module of the same stage (before
write_files): ``fleetcfg-boot-units`` (package data ``boot-units.sh``, fed on
stdin so the proxy password is in no command line) writes them, checks their
sha256 and runs ``systemctl daemon-reload``, once per instance
(``cloud-init-per instance``: bootcmd itself runs on every boot, and a drop-in
changed later by apply or converge must not be put back). Files copied into an
image before its first boot (``fleetcfg render -o``) need none of this:
systemd loads them when it starts.

The check
---------
``runcmd`` (run in the final stage, after ``multi-user.target``) runs
``fleetcfg-boot-check`` (written by ``write_files`` too): every file still
hashes as written, ``docker info`` answers, and dockerd reports the registry
mirrors, live-restore and log driver daemon.json sets; with a drop-in, systemd
has it loaded (``DropInPaths`` lists it, ``NeedDaemonReload`` is ``no``) and
dockerd reports the proxies it sets (credentials masked as dockerd masks
them). If dockerd started before the file was written (an image that starts
docker early, a boot race), it fails and says so; cloud-init then reports the
run as failed (``cloud-init status --long``).

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
import shlex
from collections.abc import Sequence
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from fleetcfg.core.terminal import has_ci_command
from fleetcfg.dockerd.dropin import split_environment
from fleetcfg.plan.facts_parse import parse_environment_file
from fleetcfg.plan.model import FileKind
from fleetcfg.plan.tree import Tree, TreeFile
from fleetcfg.render.surface import ApplyAction

CHECK_PATH = "/usr/local/sbin/fleetcfg-boot-check"
#: the name ``cloud-init-per`` records the drop-ins' run under (once per instance)
BOOT_UNITS_NAME = "fleetcfg_boot_units"
_PROGRAM_END = "FLEETCFG_BOOT_UNITS"
_FILE_END = "FLEETCFG_FILE"
#: how dockerd's ``docker info`` shows a proxy URL's credentials
_MASKED_USERINFO = "xxxxx:xxxxx"
#: seconds the check waits for ``docker info`` to answer
DEFAULT_CHECK_TIMEOUT = 300


def boot_check_program() -> str:
    """The text of ``fleetcfg-boot-check`` (POSIX sh, shipped as package data)."""
    return (resources.files("fleetcfg") / "data" / "boot-check.sh").read_text()


def loaded_at_boot(file: TreeFile) -> bool:
    """Whether systemd reads ``file`` only when it starts or on daemon-reload
    (a unit drop-in): landed by bootcmd, not write_files."""
    return file.surface is not None and file.surface.action is ApplyAction.DAEMON_RELOAD_RESTART


def boot_units_program(files: Sequence[TreeFile]) -> str:
    """``fleetcfg-boot-units`` for ``files``: writes each (base64, checked
    against its sha256) and runs ``systemctl daemon-reload``."""
    source = (resources.files("fleetcfg") / "data" / "boot-units.sh").read_text()
    # its leading comment (how and why) stays in the package: user-data is small
    body = source.split("\nset -eu\n", 1)[1]
    text = "# fleetcfg-boot-units (fleetcfg cloud-init): docker.service's drop-ins\nset -eu\n"
    text += body
    for file in files:
        encoded = base64.encodebytes(file.content).decode("ascii")
        text += (
            f"put {shlex.quote(file.path)} {file.mode:04o} {file.sha256} <<'{_FILE_END}'\n"
            f"{encoded}{_FILE_END}\n"
        )
    return text + "reload\n"


def bootcmd_entry(files: Sequence[TreeFile]) -> str:
    """The bootcmd entry (a shell snippet: cloud-init runs bootcmd as one
    ``/bin/sh`` script) that runs :func:`boot_units_program` once per
    instance, the program on stdin."""
    return (
        f"cloud-init-per instance {BOOT_UNITS_NAME} /bin/sh -s <<'{_PROGRAM_END}'\n"
        f"{boot_units_program(files)}{_PROGRAM_END}\n"
    )


def dropin_environment(content: bytes) -> dict[str, str]:
    """The variables a drop-in's ``Environment=`` lines set, as systemd reads
    them (quotes removed, ``%%`` read as ``%``)."""
    out: dict[str, str] = {}
    for line in content.decode("utf-8", "replace").splitlines():
        key, eq, value = line.strip().partition("=")
        if not eq or key.strip() != "Environment":
            continue
        try:
            words = split_environment(value)
        except ValueError:
            continue
        for word in words:
            name, sep, setting = word.partition("=")
            if sep:
                out[name] = setting.replace("%%", "%")
    return out


def masked_like_dockerd(url: str) -> str:
    """``url`` as ``docker info`` shows it: any credentials replaced by
    ``xxxxx:xxxxx`` (dockerd's MaskCredentials)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return url.replace(parts.netloc, f"{_MASKED_USERINFO}@{host}", 1)


def _is_plain_text(content: bytes) -> bool:
    """Whether ``content`` can be a literal block as it is: printable ASCII
    lines, and none that starts (after blanks) like a CI runner's command
    (``::set-output``, ``##vso[``: a repo's CA file may hold any line, and
    user-data printed in a CI log would run it); base64 otherwise."""
    if not content.endswith(b"\n"):
        return False
    for line in content.split(b"\n"):
        if line != line.rstrip(b" "):
            return False
        if any(not 0x20 <= byte < 0x7F for byte in line):
            return False
    return not has_ci_command(content.decode("ascii"))


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
    for file in tree.files:
        if not loaded_at_boot(file):
            continue
        if file.path.endswith(".conf"):  # systemd loads only those as drop-ins
            argv += ["--dropin", file.path]
            environment = dropin_environment(file.content)
        else:  # the drop-in's EnvironmentFile= (the proxy password's)
            environment = parse_environment_file(file.content.decode("utf-8", "replace"))
        for name, option in (("HTTP_PROXY", "--http-proxy"), ("HTTPS_PROXY", "--https-proxy")):
            if environment.get(name):
                argv += [option, masked_like_dockerd(environment[name])]
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
    """The cloud-config document (as data) that writes ``tree`` (drop-ins
    from bootcmd, everything else with write_files) and, with ``check``,
    verifies at the end of the boot that dockerd runs with it."""
    at_boot = [f for f in tree.files if loaded_at_boot(f)]
    write_files = [_write_file(f) for f in tree.files if not loaded_at_boot(f)]
    if check:
        write_files.append(
            {
                "path": CHECK_PATH,
                "permissions": "0755",
                "owner": "root:root",
                **_content(boot_check_program().encode()),
            }
        )
    document: dict[str, Any] = {}
    if at_boot:
        document["bootcmd"] = [LiteralScalarString(bootcmd_entry(at_boot))]
    if write_files:
        document["write_files"] = write_files
    if check:
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
