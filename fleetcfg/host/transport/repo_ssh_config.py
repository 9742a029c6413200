"""ssh_config files that the repo under review chose: read for the commands
they would run (``ProxyCommand``, ``LocalCommand``, ``KnownHostsCommand``,
``Match exec``), never trusted to run them. Lint reports each one in the repo
(FC059); plan, apply and rollback refuse to connect through any file the
inventory names as ``ssh_config_file`` that would run one, or one too large
to be checked, unless the operator passes ``--trust-repo-ssh-config``
(DESIGN.md, Trust model). A file outside the repo counts too: in a monorepo
the folder next to the inventory's is the same pull request, and
``/proc/self/environ`` holds whatever the CI job put in its environment. Only
the operator's own ``~/.ssh/config`` is not checked."""

from __future__ import annotations

import contextlib
import errno
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from fleetcfg.core.boundedread import TEXT_LIMIT, read_regular, too_large
from fleetcfg.core.errors import TransportError
from fleetcfg.host.transport.targets import SshTarget, default_ssh_config_path

#: ssh_config keywords that run a command on the machine ssh runs on (a
#: ``Match`` line with an ``exec`` criterion does too)
COMMAND_KEYWORDS = {
    "proxycommand": "ProxyCommand",
    "localcommand": "LocalCommand",
    "knownhostscommand": "KnownHostsCommand",
}
#: a line's keyword and value, as paramiko's SSHConfig reads them
_DIRECTIVE = re.compile(r"(\w+)(?:\s*=\s*|\s+)(.+)")
TRUST_REPO_SSH_CONFIG = "--trust-repo-ssh-config"


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(number, line) of ``text``, as paramiko reads it (only ``\\n`` ends a
    line; its ``strip()`` and ``\\s`` take a vertical tab, ``\\x1c`` or
    U+2028 for blanks) and as ``str.splitlines()`` breaks it further, so
    that neither way of reading hides a line from the other."""
    for number, line in enumerate(text.split("\n"), 1):
        yield number, line.strip()
        parts = line.splitlines()
        if len(parts) > 1:
            for part in parts:
                yield number, part.strip()


def _words(value: str) -> set[str]:
    """The words of a ``Match`` line, split as a shell does (paramiko uses
    shlex: ``"exec"`` is exec) and at blanks and ``=``."""
    words = set(value.replace("=", " ").split())
    with contextlib.suppress(ValueError):  # an unclosed quote: paramiko refuses the file
        words.update(shlex.split(value))
    return words


def _runs_command(keyword: str, value: str) -> str | None:
    """The directive a line of ``keyword value`` would run a command by."""
    keyword = keyword.lower()
    if keyword in COMMAND_KEYWORDS and value.strip().lower() != "none":
        return COMMAND_KEYWORDS[keyword]
    if keyword == "match" and any(w.lstrip("!").lower() == "exec" for w in _words(value)):
        return "Match exec"
    return None


def ssh_config_commands(text: str) -> list[tuple[int, str]]:
    """(line, directive) of every line of ssh_config ``text`` that would run
    a command: ProxyCommand, LocalCommand, KnownHostsCommand (other than
    ``none``) and ``Match ... exec``. The text is scanned, never evaluated
    (paramiko runs ``Match exec`` while it looks a host up), its lines and
    words read at least as paramiko reads them."""
    found: list[tuple[int, str]] = []
    for number, line in _lines(text):
        m = _DIRECTIVE.match(line)
        if m is None or line.startswith("#"):
            continue
        directive = _runs_command(m.group(1), m.group(2))
        if directive is not None and (number, directive) not in found:
            found.append((number, directive))
    return found


def _candidates(setting: str | None, repo_root: Path) -> list[Path]:
    """The files ``ssh_config_file: setting`` may mean (a relative path is
    read from the current folder; it is checked against the repo root too),
    resolved."""
    if setting is None or setting.lower() == "none":
        return []
    path = Path(setting).expanduser()
    found: list[Path] = []
    for candidate in [path] if path.is_absolute() else [path, repo_root / path]:
        resolved = candidate.resolve()
        if resolved not in found:
            found.append(resolved)
    return found


def repo_ssh_config_files(setting: str | None, repo_root: Path) -> list[Path]:
    """The files ``ssh_config_file: setting`` may mean that lie inside the
    repo, resolved (what lint reads: nothing outside the repo)."""
    root = repo_root.resolve()
    return [p for p in _candidates(setting, repo_root) if p.is_relative_to(root)]


def named_ssh_config_files(setting: str | None, repo_root: Path) -> list[Path]:
    """The files ``ssh_config_file: setting`` may mean, resolved, wherever
    they are, but the operator's own ``~/.ssh/config``."""
    candidates = _candidates(setting, repo_root)
    if not candidates:
        return []
    own = default_ssh_config_path().resolve()
    return [p for p in candidates if p != own]


def ssh_config_text(path: Path) -> str | None:
    """An ssh_config file the repo names, as text (read, never evaluated):
    None when it is too large to be checked (past :data:`TEXT_LIMIT`), ""
    when it cannot be read or is not a regular file (connecting through it
    reports why)."""
    try:
        return read_regular(path, TEXT_LIMIT).decode("utf-8", errors="replace")
    except OSError as exc:
        return None if exc.errno == errno.EFBIG else ""


def refuse_repo_ssh_config_commands(target: SshTarget, repo_root: Path) -> None:
    """Refuse ``target`` when the ssh_config file its inventory names would
    run a command on this machine (the repo may be a pull request under
    review), or is too large to be checked; the operator's own
    ``~/.ssh/config`` is not affected."""
    named = named_ssh_config_files(target.ssh_config_file, repo_root)
    if not named:
        return  # none, or the operator's own ~/.ssh/config: nothing the repo chose
    root = repo_root.resolve()
    for path in named:
        where = "in the repo" if path.is_relative_to(root) else "named by the repo's inventory"
        text = ssh_config_text(path)
        if text is None:
            raise TransportError(
                f"refused to connect: ssh_config file {target.ssh_config_file} is {where} "
                f"and {too_large(TEXT_LIMIT)}: it is not checked for commands",
                file=str(target.ssh_config_file),
                host=target.host,
            )
        commands = ssh_config_commands(text)
        if commands:
            line, directive = commands[0]
            raise TransportError(
                f"refused to connect: ssh_config file {target.ssh_config_file} is {where} "
                f"and its {directive} (line {line}) would run a command on this machine",
                file=str(target.ssh_config_file),
                line=line,
                host=target.host,
                hint="put such settings in your own ~/.ssh/config and leave ssh_config_file "
                f"unset, or pass {TRUST_REPO_SSH_CONFIG} once the repo has been reviewed",
            )
