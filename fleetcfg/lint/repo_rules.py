"""Repo rules that look at the files rather than at rendered hosts: literal
secrets in inventory variables, and syntax errors in profiles no host uses
(rendering finds them in the profiles that are used)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fleetcfg.core.boundedread import TEXT_LIMIT, too_large
from fleetcfg.core.errors import FleetcfgError, SecretLookupError
from fleetcfg.core.findings import Finding
from fleetcfg.core.rules import (
    CREDENTIALS,
    PROFILE,
    SECRET_LOOKUP,
    SSH_CONFIG_COMMAND,
    TEMPLATE,
    Rule,
)
from fleetcfg.core.yamlsource import KeyPath, SourceLocation, format_path, iter_leaves
from fleetcfg.host.transport.repo_ssh_config import (
    TRUST_REPO_SSH_CONFIG,
    repo_ssh_config_files,
    ssh_config_commands,
    ssh_config_text,
)
from fleetcfg.inventory import Inventory
from fleetcfg.render import available_profiles
from fleetcfg.render.templates import TemplateSet

#: variable names that hold secrets (``proxy_password``, ``registry_token``)
SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|passphrase|secret|token|api_?key|private_key|credentials?)$",
    re.IGNORECASE,
)
_PROFILE_PROBLEM = re.compile(
    r"(^|extends )profile '.*' (not found|is ambiguous)|profiles extend each other in a cycle"
)


def error_rule(exc: FleetcfgError) -> Rule:
    """The rule of an error raised while rendering a host."""
    if isinstance(exc, SecretLookupError):
        return SECRET_LOOKUP
    if _PROFILE_PROBLEM.search(exc.message):
        return PROFILE
    return TEMPLATE


def error_finding(exc: FleetcfgError, host: str | None) -> Finding:
    rule = error_rule(exc)
    message = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return Finding(
        rule.id,
        rule.severity,
        message,
        exc.key or "",
        exc.file,
        exc.line,
        exc.column,
        (host,) if host else (),
    )


def _var_layers(data: Any) -> Iterator[tuple[KeyPath, Any]]:
    """Every ``vars`` mapping of inventory.yaml, with its document path."""
    if not isinstance(data, dict):
        return
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        yield ("defaults", "vars"), defaults.get("vars")
    groups = data.get("groups")
    for name, group in groups.items() if isinstance(groups, dict) else ():
        if isinstance(group, dict):
            yield ("groups", name, "vars"), group.get("vars")
            hosts = group.get("hosts")
            for host, entry in hosts.items() if isinstance(hosts, dict) else ():
                if isinstance(entry, dict):
                    yield ("groups", name, "hosts", host, "vars"), entry.get("vars")
    hosts = data.get("hosts")
    for host, entry in hosts.items() if isinstance(hosts, dict) else ():
        if isinstance(entry, dict):
            yield ("hosts", host, "vars"), entry.get("vars")


def literal_secret_vars(inventory: Inventory, skip: set[SourceLocation]) -> Iterator[Finding]:
    """FC040 for inventory variables named like secrets that hold a value
    (``skip``: places already reported)."""
    for base, variables in _var_layers(inventory.doc.data):
        if not isinstance(variables, dict):
            continue
        for path, value in iter_leaves(variables):
            name = path[-1] if path else ""
            if not isinstance(name, str) or not SECRET_NAME.search(name):
                continue
            if value is None or value == "" or isinstance(value, bool | dict | list):
                continue
            where = inventory.location((*base, *path))
            if where in skip:
                continue
            hosts = tuple(
                h.name
                for h in inventory.hosts.values()
                if (o := h.origin(("vars", *path))) is not None and o.location == where
            )
            yield Finding(
                CREDENTIALS.id,
                CREDENTIALS.severity,
                f'variable "{format_path(path)}" holds a secret written in clear in the repo: '
                "anyone who can read the repo has it. Remove it and read the secret in the "
                'profile with env("NAME") or file("PATH"), then rotate it',
                format_path((*base, *path)),
                where.file,
                where.line,
                where.column,
                hosts,
            )


def unused_profile_errors(
    inventory: Inventory, templates: TemplateSet, used: set[str], failed: set[str]
) -> Iterator[Finding]:
    """Jinja syntax errors in profiles no host renders (``used``: template
    names; ``failed``: files whose errors hosts already reported)."""
    for name in sorted(available_profiles(inventory.profiles_dir)):
        try:
            profile = templates.profile(name)
        except FleetcfgError:
            continue  # ambiguous: reported for the hosts that use it
        if profile.template in used or profile.display in failed or not profile.templated:
            continue
        try:
            templates.analysis(profile, "")
        except FleetcfgError as exc:
            finding = error_finding(exc, None)
            yield Finding(
                finding.rule,
                finding.severity,
                finding.message + " (no host uses this profile yet)",
                finding.path,
                finding.file,
                finding.line,
                finding.column,
            )


def ssh_config_commands_in_repo(inventory: Inventory) -> Iterator[tuple[Finding, str]]:
    """FC059 (with the host) for every command an ssh_config file of the
    repo would run, at its line. The files are read, never evaluated."""
    texts: dict[Path, str | None] = {}
    for host in inventory.hosts.values():
        if host.connection != "ssh":
            continue
        setting = host.ssh.get("ssh_config_file")
        for path in repo_ssh_config_files(setting, inventory.root):
            if path not in texts:
                texts[path] = ssh_config_text(path)
            display = (
                Path(inventory.display).parent / path.relative_to(inventory.root.resolve())
            ).as_posix()
            text = texts[path]
            found: list[tuple[int | None, str]] = []
            if text is None:
                found.append(
                    (
                        None,
                        f"an ssh_config file of the repo {too_large(TEXT_LIMIT)} is not checked "
                        "for commands it would run; plan and apply refuse it",
                    )
                )
            for at, directive in ssh_config_commands(text or ""):
                found.append(
                    (
                        at,
                        f"{directive} in an ssh_config file of the repo would run a command "
                        "on the machine that runs fleetcfg; plan and apply refuse it "
                        f"(put it in your own ~/.ssh/config, or pass {TRUST_REPO_SSH_CONFIG} "
                        "once the repo is reviewed)",
                    )
                )
            rule = SSH_CONFIG_COMMAND
            for where, message in found:
                finding = Finding(
                    rule.id, rule.severity, message, "ssh.ssh_config_file", display, where, None
                )
                yield finding, host.name
