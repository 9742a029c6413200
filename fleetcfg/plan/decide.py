"""Facts + rendered targets -> the plan of one host (pure: no I/O, no printing).

:func:`plan_from_facts` decides, for one host:

* each file's target: the rendered profile, merged with the live file under
  ``manage: keys`` (foreign keys kept, shown as ``kept``) and for client
  config.json (``RenderedConfig.desired``); validated again with the Engine
  version the host really runs (``dockerd --version``);
* the semantic diff (key paths, secrets masked) and the text diff. A file whose
  content is semantically the same as the target is left alone (key order and
  white space are never a change);
* the action (see :mod:`fleetcfg.plan.model`): ``restart`` when a changed
  daemon.json key is not applied on SIGHUP, a key dockerd keeps on reload is
  removed, the live daemon.json did not parse, or docker.service is not
  active; ``reload`` when every change is reloadable (the plan notes the keys
  dockerd resets to their defaults when they are absent); ``write`` when only
  client config.json files change; ``error`` when anything is wrong;
* warnings (drift since fleetcfg's last write, a restart that kills running
  containers, a live file that does not parse, ...) and errors (keys this
  Engine does not know, a daemon.json key that ExecStart also passes as a
  flag, unknown client users, render and validation errors).

The result is a :class:`PlannedHost`: the :class:`~fleetcfg.plan.model.HostPlan`
(masked, safe to print and to save) plus the exact bytes to write
(``contents``, secrets in clear: never print them). :func:`stale_reasons`
compares a saved host plan with a fresh one (apply refuses a stale plan).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.findings import Finding, Severity
from fleetcfg.core.hashing import canonical_json, sha256_hex
from fleetcfg.core.jsondoc import JsonSyntaxError, loads_fast
from fleetcfg.core.secrets import holds_credentials, mask_text, secrets_in_place
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.base import Reload
from fleetcfg.dockerd.daemon import key_metadata
from fleetcfg.dockerd.keys import IGNORED_FLAGS
from fleetcfg.dockerd.validation import CheckResult, check_client, check_daemon
from fleetcfg.inventory import Host
from fleetcfg.plan.diff import (
    Change,
    ChangeKind,
    render_change,
    semantic_diff,
    text_diff,
)
from fleetcfg.plan.facts import DAEMON_JSON, Facts, FileFacts, UnitFacts, parse_flags
from fleetcfg.plan.model import Action, FileKind, FilePlan, HostPlan, KeyChange
from fleetcfg.render import RenderedConfig

DAEMON_MODE = 0o644
#: daemon.json holding a credential (proxy password, env()/file() value)
DAEMON_SECRET_MODE = 0o600
CLIENT_MODE = 0o600


def daemon_mode(credentials: bool) -> int:
    """The mode fleetcfg gives daemon.json: 0600 when it holds a credential (a
    URL password, an env()/file() value:
    :func:`fleetcfg.core.secrets.holds_credentials`), else 0644."""
    return DAEMON_SECRET_MODE if credentials else DAEMON_MODE


#: what dockerd falls back to on reload when an ``always`` key is absent
RESET_DEFAULTS = {
    "max-concurrent-downloads": "3",
    "max-concurrent-uploads": "5",
    "max-download-attempts": "5",
    "features": "an empty map (every feature at its default)",
    "authorization-plugins": "no authorization plugins",
    "network-diagnostic-port": "0 (the diagnostic server stops)",
}
#: ``if-present`` keys dockerd applies on reload only when non-empty
_NON_EMPTY = frozenset({"default-runtime", "default-ipc-mode", "default-cgroupns-mode"})

#: dockerd flags whose daemon.json key has another name (list/map options are
#: looked up by their plural option name); None: never a conflict
FLAG_KEYS: Mapping[str, tuple[str, ...] | None] = {
    "host": ("hosts",),
    "label": ("labels",),
    "log-opt": ("log-opts",),
    "default-ulimit": ("default-ulimits",),
    "registry-mirror": ("registry-mirrors",),
    "insecure-registry": ("insecure-registries",),
    "storage-opt": ("storage-opts",),
    "exec-opt": ("exec-opts",),
    "dns-opt": ("dns-opts",),
    "authorization-plugin": ("authorization-plugins",),
    "node-generic-resource": ("node-generic-resources",),
    "cdi-spec-dir": ("cdi-spec-dirs",),
    "default-network-opt": ("default-network-opts",),
    "feature": ("features",),
    "default-address-pool": ("default-address-pools",),
    "host-gateway-ip": ("host-gateway-ip", "host-gateway-ips"),
    "http-proxy": ("proxies.http-proxy",),
    "https-proxy": ("proxies.https-proxy",),
    "no-proxy": ("proxies.no-proxy",),
    # merged with the file's runtimes without error (dockerd's skipDuplicates)
    "add-runtime": None,
    # the file itself, and flags that are no settings
    "config-file": None,
    "validate": None,
    "version": None,
    "help": None,
}

ReloadName = Literal["restart", "if-present", "always", "no-effect"]


@dataclass(frozen=True)
class Targets:
    """What render produced for one host: its daemon.json (``None``: the host
    has no daemon_profile) and each client user's config.json; a render
    error takes the place of its result."""

    daemon: RenderedConfig | FleetcfgError | None = None
    clients: Mapping[str, RenderedConfig | FleetcfgError] = field(default_factory=dict)

    @property
    def secrets(self) -> frozenset[str]:
        found: set[str] = set()
        for target in (self.daemon, *self.clients.values()):
            if isinstance(target, RenderedConfig):
                found |= target.secrets
        return frozenset(found)


@dataclass(frozen=True)
class LintSettings:
    """The inventory's ``lint:`` settings, applied to findings in the plan."""

    disable: frozenset[str] = frozenset()
    severity: Mapping[str, str] = field(default_factory=dict)

    def apply(self, finding: Finding) -> Finding | None:
        if finding.rule in self.disable:
            return None
        override = self.severity.get(finding.rule)
        return finding.with_severity(Severity(override)) if override else finding


@dataclass(frozen=True)
class PlannedHost:
    """A host's plan and the exact bytes apply writes (path -> content;
    secrets in clear: never print or store them)."""

    plan: HostPlan
    contents: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    facts: Facts | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return self.plan.host


# --------------------------------------------------------------------------
# reload semantics


def key_reload(key: str) -> Reload:
    """What dockerd does with top-level ``key`` on SIGHUP."""
    meta = key_metadata().get(key)
    if meta is not None:
        return meta.reload
    if key in IGNORED_FLAGS:
        return Reload.NO_EFFECT  # accepted and never applied
    return Reload.RESTART


def change_reload(change: Change) -> Reload:
    return key_reload(change.top_key)


def needs_restart(change: Change) -> str | None:
    """Why ``change`` needs a restart (None: a reload applies it)."""
    key = change.top_key
    reload = change_reload(change)
    if reload in (Reload.ALWAYS, Reload.NO_EFFECT):
        return None
    if reload is Reload.RESTART:
        return f"{key}: dockerd applies it only when it starts"
    removed = change.kind is ChangeKind.REMOVED and len(change.loc) == 1
    emptied = key in _NON_EMPTY and len(change.loc) == 1 and change.new == ""
    if removed or emptied:
        return (
            f"{key} is {'removed' if removed else 'emptied'}: on reload dockerd keeps the "
            "running value, only a restart drops it"
        )
    return None


def reset_note(change: Change) -> str | None:
    """The note for an ``always`` key that is removed (dockerd resets it)."""
    if change.kind is not ChangeKind.REMOVED or len(change.loc) != 1:
        return None
    if change_reload(change) is not Reload.ALWAYS:
        return None
    default = RESET_DEFAULTS.get(change.top_key, "its default")
    return f"{change.top_key} is removed: on reload dockerd resets it to {default}"


# --------------------------------------------------------------------------
# building blocks


def _finding_text(f: Finding) -> str:
    where = ":".join(str(p) for p in (f.file, f.line) if p is not None)
    path = f" {f.path}:" if f.path else ""
    return f"{where + ': ' if where else ''}{f.rule}{path} {f.message}"


def _decode(file: FileFacts) -> tuple[dict[str, Any] | None, str | None]:
    """The live file's data (``{}`` when absent), or the reason it does not
    parse."""
    if not file.exists or file.content is None:
        return {}, None
    try:
        value = loads_fast(file.content)
    except JsonSyntaxError as exc:
        where = f" at line {exc.line}" if exc.line else ""
        return None, f"invalid JSON{where}: {exc.go_message}"
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        return None, "the top level is not a JSON object"
    return value, None


@functools.lru_cache(maxsize=1024)
def _check_daemon_cached(text: str, engine: EngineVersion) -> CheckResult[Any]:
    return check_daemon(json.loads(text), engine)


@functools.lru_cache(maxsize=1024)
def _check_client_cached(text: str) -> CheckResult[Any]:
    return check_client(json.loads(text))


@dataclass
class _Host:
    """What is being collected for one host."""

    secrets: frozenset[str]
    lint: LintSettings
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    files: list[FilePlan] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    restart_reasons: list[str] = field(default_factory=list)
    #: changed daemon.json keys dockerd applies only when it starts
    start_only: list[str] = field(default_factory=list)
    reset_notes: list[str] = field(default_factory=list)
    daemon_changed: bool = False
    daemon_unknown_running: bool = False
    #: live-restore in the daemon.json target (None: not set, dockerd's default off)
    desired_live_restore: bool | None = None
    client_changed: bool = False

    def mask(self, text: str) -> str:
        return mask_text(text, self.secrets)

    def warn(self, text: str) -> None:
        text = self.mask(text)
        if text not in self.warnings:
            self.warnings.append(text)

    def fail(self, text: str) -> None:
        text = self.mask(text)
        if text not in self.errors:
            self.errors.append(text)

    def findings(self, findings: Iterable[Finding], prefix: str = "") -> None:
        for raw in findings:
            f = self.lint.apply(raw)
            if f is None or f.severity is Severity.INFO:
                continue
            text = prefix + _finding_text(f)
            if f.severity is Severity.ERROR:
                self.fail(text)
            else:
                self.warn(text)


def _key_changes(
    changes: Sequence[Change],
    kept: Sequence[str],
    current: Mapping[str, Any] | None,
    h: _Host,
    *,
    client: bool = False,
) -> list[KeyChange]:
    """Masked KeyChanges; client config.json keys have no effect on dockerd."""
    out: list[KeyChange] = []
    for change in changes:
        reload_value: ReloadName = "no-effect" if client else change_reload(change).value
        out.append(
            KeyChange(
                path=change.path,
                kind=change.kind.value,
                display=h.mask(render_change(change, h.secrets)),
                reload=reload_value,
            )
        )
    for key in kept:
        value = current.get(key) if current is not None else None
        kept_change = Change((key,), ChangeKind.KEPT, old=value)
        out.append(
            KeyChange(
                path=key,
                kind="kept",
                display=h.mask(render_change(kept_change, h.secrets)),
                reload="no-effect" if client else key_reload(key).value,
            )
        )
    return out


def _drift(facts: Facts, file: FileFacts, h: _Host, label: str) -> None:
    entry = facts.state.record(file.path)
    if entry is None or not file.known:
        return
    if file.sha256 == entry.sha256:
        return
    when = f" at {entry.written_at}" if entry.written_at else ""
    who = f" by {entry.written_by}" if entry.written_by else ""
    if entry.sha256 is None:
        h.warn(f"drift: {label} was created outside fleetcfg since fleetcfg removed it{when}{who}")
        return
    if not file.exists:
        h.warn(
            f"drift: {label} was deleted outside fleetcfg since fleetcfg last wrote it{when}{who}"
        )
        return
    h.warn(
        f"drift: {label} was changed outside fleetcfg since fleetcfg last wrote it{when}{who} "
        f"(sha256 now {_short(file.sha256)}, fleetcfg wrote {_short(entry.sha256)})"
    )


def _flag_conflicts(unit: UnitFacts, desired: Mapping[str, Any], h: _Host, path: str) -> None:
    """dockerd refuses to start when an option is both a flag and in the file."""
    proxies = desired.get("proxies")
    found: dict[str, list[str]] = {}
    for flag in parse_flags(unit.flags):
        keys = FLAG_KEYS.get(flag.name, (flag.name,))
        for key in keys or ():
            top, _, inner = key.partition(".")
            present = (isinstance(proxies, dict) and inner in proxies) if inner else top in desired
            if present:
                found.setdefault(key, []).append(flag.written)
    raw = set(parse_flags(unit.exec_start_raw.split()[1:]))
    for key, written in found.items():
        origin = f"ExecStart in {unit.sources}"
        indirect = [w for w in written if not any(f.written == w for f in raw)]
        if indirect and unit.variables:
            sources = ", ".join(f"${name} from {where}" for name, where in unit.variables.items())
            origin += f", through {sources}"
        h.fail(
            f'{path} sets "{key}" but docker.service already passes {" ".join(written)} '
            f"({origin}): dockerd refuses to start (the following directives are specified "
            f"both as a flag and in the configuration file: {key.rpartition('.')[2]}). Remove "
            f'"{key}" from the profile, or drop the flag from the unit with a systemd drop-in'
        )


def _file_attributes(file: FileFacts) -> dict[str, Any]:
    return {
        "live_mode": file.mode,
        "live_owner": file.owner,
        "live_group": file.group,
        "parent_exists": file.parent_exists,
    }


# --------------------------------------------------------------------------
# daemon.json


def _plan_daemon(
    rendered: RenderedConfig, facts: Facts, engine: EngineVersion, h: _Host
) -> FilePlan | None:
    live = facts.daemon_json
    path = live.path
    label = path
    if not live.known:
        h.fail(f"cannot read {path}: {live.problem}")
        return None
    h.findings(rendered.findings)
    current, problem = _decode(live)
    if problem is not None:
        h.daemon_unknown_running = True
        if rendered.manage == "keys":
            h.warn(
                f"the live {path} does not parse ({problem}); the plan replaces it, so the "
                "keys other tools wrote there cannot be kept"
            )
        else:
            h.warn(f"the live {path} does not parse ({problem}); the plan replaces it")

    desired = rendered.desired(current if problem is None else None)
    live_restore = desired.get("live-restore")
    h.desired_live_restore = live_restore if isinstance(live_restore, bool) else None
    target = rendered.to_json_dict()
    managed = rendered.managed_keys()
    kept: list[str] = []
    if rendered.manage == "keys" and current is not None and problem is None:
        kept = [k for k in current if k not in managed]
    if desired != target:
        # foreign keys joined the target: validate the whole file again
        check = _check_daemon_cached(json.dumps(desired, sort_keys=True), engine)
        extra = [f for f in check.findings if f.path.split(".")[0] not in managed]
        h.findings(extra, prefix=f"{path} (a key fleetcfg keeps): ")
    if facts.unit is not None:
        _flag_conflicts(facts.unit, desired, h, path)
    _drift(facts, live, h, label)
    changes = semantic_diff(current if problem is None else {}, desired)
    write = problem is not None or bool(changes)
    target_bytes = canonical_json(desired).encode() if write else b""
    for change in changes:
        if change_reload(change) is Reload.RESTART:
            if change.top_key not in h.start_only:
                h.start_only.append(change.top_key)
            continue
        why = needs_restart(change)
        if why and why not in h.restart_reasons:
            h.restart_reasons.append(why)
        note = reset_note(change)
        if note and note not in h.reset_notes:
            h.reset_notes.append(note)
    live_text = live.content.decode("utf-8", "replace") if live.content is not None else None
    diff = ""
    if write:
        diff = text_diff(
            live_text if live.exists else None,
            target_bytes.decode(),
            path=path,
            secrets=h.secrets,
            old_data=current if problem is None and live.exists else None,
            new_data=desired,
        )
        h.contents[path] = target_bytes
        h.daemon_changed = True
    credentials = holds_credentials(canonical_json(desired), rendered.secrets)
    return FilePlan(
        kind=FileKind.DAEMON,
        path=path,
        live_sha256=live.sha256,
        target_sha256=sha256_hex(target_bytes) if write else None,
        mode=daemon_mode(credentials),
        owner="root",
        group="root",
        credentials=credentials,
        changes=_key_changes(changes, kept, current, h),
        text_diff=h.mask(diff),
        kept_keys=kept,
        **_file_attributes(live),
    )


# --------------------------------------------------------------------------
# client config.json


def _plan_client(user: str, rendered: RenderedConfig, facts: Facts, h: _Host) -> FilePlan | None:
    who = facts.users.get(user)
    if who is None or not who.exists:
        reason = who.problem if who is not None and who.problem else "getent passwd found nothing"
        h.fail(
            f"client user {user} does not exist on the host ({reason}): create the user, "
            "or remove it from client_users"
        )
        return None
    live = who.config
    if live is None:
        h.fail(f"cannot read {user}'s config.json")
        return None
    path = live.path
    label = f"{path} ({user})"
    if not live.known:
        h.fail(f"cannot read {label}: {live.problem}")
        return None
    h.findings(rendered.findings, prefix=f"{user}'s config.json: ")
    current, problem = _decode(live)
    if problem is not None:
        h.warn(
            f"the live {label} does not parse ({problem}); the docker CLI ignores it, and "
            "the plan replaces it (its other settings and credentials cannot be kept)"
        )
    desired = rendered.desired(current if problem is None else None)
    if problem is None and current and desired != rendered.to_json_dict():
        check = _check_client_cached(json.dumps(desired, sort_keys=True))
        targeted = set(rendered.to_json_dict())
        extra = [f for f in check.findings if f.path.split(".")[0] not in targeted]
        h.findings(extra, prefix=f"{label} (a key fleetcfg keeps): ")
    kept = [
        k
        for k in (current or {})
        if problem is None and k not in rendered.data and k not in rendered.removed_keys
    ]
    _drift(facts, live, h, label)
    changes = semantic_diff(current if problem is None else {}, desired)
    write = problem is not None or bool(changes)
    target_bytes = canonical_json(desired).encode() if write else b""
    credentials = current is not None and any(k in current for k in ("auths", "HttpHeaders"))
    if live.exists and live.mode is not None and live.mode & 0o077 and credentials:
        h.warn(
            f"{label} is mode {live.mode:04o} and holds credentials other users can read; "
            f"fleetcfg writes it {CLIENT_MODE:04o} when it next changes"
        )
    diff = ""
    if write:
        diff = text_diff(
            live.content.decode("utf-8", "replace")
            if live.exists and live.content is not None
            else None,
            target_bytes.decode(),
            path=path,
            secrets=h.secrets,
            old_data=current if problem is None and live.exists else None,
            new_data=desired,
        )
        h.contents[path] = target_bytes
        h.client_changed = True
    return FilePlan(
        kind=FileKind.CLIENT,
        path=path,
        user=user,
        live_sha256=live.sha256,
        target_sha256=sha256_hex(target_bytes) if write else None,
        mode=CLIENT_MODE,
        owner=user,
        group=who.group or user,
        changes=_key_changes(changes, kept, current, h, client=True),
        text_diff=h.mask(diff),
        kept_keys=kept,
        **_file_attributes(live),
    )


# --------------------------------------------------------------------------
# the host


def _host_checks(host: Host, facts: Facts, h: _Host, has_daemon: bool) -> None:
    if facts.engine is None:
        if has_daemon:
            h.fail(
                f"cannot tell which Docker Engine the host runs ({facts.engine_problem}); "
                "install Docker on the host, or remove the host from the inventory"
            )
    else:
        origin = host.origin(("engine_version",))
        assumed = host.engine_version
        if origin is not None and assumed.short != facts.engine.short:
            where = f" ({origin.location})" if origin.location else ""
            h.warn(
                f"the inventory says engine_version {assumed.short}{where} but the host runs "
                f"{facts.engine}; the plan renders and validates for {facts.engine} "
                "(fix engine_version so that lint checks the right release)"
            )
    unit = facts.unit
    if not has_daemon:
        return
    if unit is None:
        h.warn(
            f"cannot see docker.service ({facts.unit_problem}); fleetcfg cannot check "
            "dockerd's flags or whether it runs"
        )
        return
    if not unit.loaded:
        h.fail(
            f"docker.service is not installed on the host (LoadState={unit.load_state}); "
            "install Docker, or remove the host from the inventory"
        )
        return
    for path in unit.unreadable_env_files:
        h.warn(
            f"cannot read {path} (an EnvironmentFile= of docker.service): flags it passes "
            "to dockerd were not checked against daemon.json"
        )


def _decide(facts: Facts, h: _Host) -> Action:
    if h.errors:
        return Action.ERROR
    if h.daemon_changed:
        unit = facts.unit
        if unit is not None and unit.loaded and not unit.active:
            h.reasons.append(
                f"restart: docker.service is {unit.active_state} (dockerd is not running), "
                "so it needs a start"
            )
            return Action.RESTART
        if h.daemon_unknown_running:
            h.reasons.append(
                "restart: the live daemon.json does not parse, so what dockerd runs now is unknown"
            )
        if h.start_only:
            keys = _join(h.start_only)
            pronoun = "it" if len(h.start_only) == 1 else "them"
            h.reasons.append(
                f"restart: dockerd applies {keys} only when it starts (a reload ignores {pronoun})"
            )
        for why in h.restart_reasons:
            h.reasons.append(f"restart: {why}")
        if h.reasons:
            _restart_warnings(facts, h)
            return Action.RESTART
        h.reasons.append(
            "reload: dockerd applies every change on `systemctl reload docker` (SIGHUP)"
        )
        h.reasons.extend(h.reset_notes)
        return Action.RELOAD
    if h.client_changed:
        h.reasons.append("write only: client config.json changes need neither reload nor restart")
        return Action.WRITE
    return Action.NONE


_SEVERITY = {Action.NONE: 0, Action.WRITE: 1, Action.RELOAD: 2, Action.RESTART: 3}
_ACTIONS = {a.value for a in _SEVERITY}


def _finish_pending(host: Host, facts: Facts, h: _Host, action: Action) -> Action:
    """An apply that replaced files and never saw the daemon healthy with them
    (killed, or the host became unreachable) left a pending mark in
    state.json: the daemon may still run the old file, so the host needs what
    that apply was to do; a daemon that failed meanwhile is an error."""
    pending = facts.state.pending
    if pending is None or action is Action.ERROR:
        return action
    path = facts.daemon_json.path
    new_on_disk = path in pending.files and pending.files[path] == facts.daemon_json.sha256
    unit = facts.unit
    if new_on_disk and unit is not None and unit.active_state == "failed":
        h.fail(
            f"docker.service is failed after the interrupted {pending.describe()} replaced "
            f"{path}: run `fleetcfg rollback {host.name}` to put the old file back (or fix "
            "the target and run fleetcfg apply)"
        )
        return Action.ERROR
    wanted = Action.WRITE
    if new_on_disk:
        wanted = Action(pending.action) if pending.action in _ACTIONS else Action.RESTART
    final = max(action, wanted, key=lambda a: _SEVERITY.get(a, 0))
    finish = f"the {final.value}" if new_on_disk else "only clearing the mark"
    h.reasons.append(
        f"{final.value}: the {pending.describe()} did not finish (state.json marks it "
        f"pending): fleetcfg apply finishes it ({finish})"
    )
    return final


def _restart_warnings(facts: Facts, h: _Host) -> None:
    if facts.info is None:
        if facts.unit is None or facts.unit.active:
            h.warn(f"cannot tell how many containers the restart stops ({facts.info_problem})")
        return
    running = facts.info.running_containers
    if not running:
        return
    noun = "container" if running == 1 else "containers"
    if not facts.info.live_restore:
        h.warn(
            f"restart kills {running} running {noun}: live-restore is off on the running "
            "daemon (containers with a restart policy start again)"
        )
    elif not h.desired_live_restore:
        h.warn(
            f"restart kills {running} running {noun}: the target turns live-restore off "
            "(containers with a restart policy start again)"
        )


def _previous_secrets(facts: Facts, targets: Targets, secrets: frozenset[str]) -> set[str]:
    """What the live files hold where the targets render a secret (the old
    proxy password after a rotation): masked like the secrets themselves."""
    found: set[str] = set()
    pairs: list[tuple[FileFacts | None, RenderedConfig | FleetcfgError | None]] = [
        (facts.daemon_json, targets.daemon)
    ]
    for user, target in targets.clients.items():
        who = facts.users.get(user)
        pairs.append((who.config if who is not None else None, target))
    for live, rendered in pairs:
        if live is None or not isinstance(rendered, RenderedConfig) or not rendered.secrets:
            continue
        current, _ = _decode(live)
        if current:
            found |= secrets_in_place(current, rendered.data, secrets)
    return found


def plan_from_facts(
    host: Host,
    facts: Facts,
    targets: Targets,
    *,
    secrets: Iterable[str] = (),
    lint: LintSettings | None = None,
) -> PlannedHost:
    """The plan of ``host`` from its ``facts`` and rendered ``targets``
    (rendered for the Engine version in ``facts``)."""
    all_secrets = frozenset(secrets) | targets.secrets
    all_secrets |= _previous_secrets(facts, targets, all_secrets)
    h = _Host(secrets=all_secrets, lint=lint or LintSettings())
    has_daemon = targets.daemon is not None
    _host_checks(host, facts, h, has_daemon)
    if isinstance(targets.daemon, FleetcfgError):
        h.fail(str(targets.daemon))
    elif (
        isinstance(targets.daemon, RenderedConfig)
        and facts.engine is not None
        and (facts.unit is None or facts.unit.loaded)
    ):
        daemon = _plan_daemon(targets.daemon, facts, facts.engine, h)
        if daemon is not None:
            h.files.append(daemon)
    for user, target in targets.clients.items():
        if isinstance(target, FleetcfgError):
            h.fail(f"{user}'s config.json: {target}")
            continue
        client = _plan_client(user, target, facts, h)
        if client is not None:
            h.files.append(client)
    action = _finish_pending(host, facts, h, _decide(facts, h))
    unit = facts.unit
    if (
        action is Action.NONE
        and has_daemon
        and unit is not None
        and unit.loaded
        and not unit.active
    ):
        h.warn(
            f"docker.service is {unit.active_state}: dockerd is not running "
            "(nothing in the plan changes that)"
        )
    plan = HostPlan(
        host=host.name,
        address=host.address,
        groups=list(host.groups),
        action=action,
        reasons=[h.mask(r) for r in h.reasons],
        files=h.files,
        facts=facts.to_host_facts(h.mask),
        warnings=h.warnings,
        errors=h.errors,
    )
    contents = {} if action is Action.ERROR else dict(h.contents)
    return PlannedHost(plan=plan, contents=contents, facts=facts)


def failed_host(host: Host, error: FleetcfgError, *, unreachable: bool) -> HostPlan:
    """The plan of a host that could not be planned at all."""
    message = str(error)
    if error.host and message.startswith(f"host {error.host}: "):
        message = message[len(f"host {error.host}: ") :]
    return HostPlan(
        host=host.name,
        address=host.address,
        groups=list(host.groups),
        action=Action.ERROR,
        errors=[mask_text(message, ())],
        unreachable=unreachable,
    )


# --------------------------------------------------------------------------
# stale plans


def stale_reasons(saved: HostPlan, fresh: HostPlan) -> list[str]:
    """What changed between a saved host plan and the same host planned
    again now (empty: the saved plan is still exact)."""
    reasons: list[str] = []
    before = {f.path: f for f in saved.files}
    after = {f.path: f for f in fresh.files}
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old is None:
            reasons.append(f"{path} is now part of the plan")
            continue
        if new is None:
            reasons.append(f"{path} is no longer part of the plan")
            continue
        if old.live_sha256 != new.live_sha256:
            reasons.append(
                f"{path} changed on the host since the plan (sha256 "
                f"{_short(old.live_sha256)} -> {_short(new.live_sha256)})"
            )
        if old.target_sha256 != new.target_sha256:
            reasons.append(
                f"the target of {path} changed since the plan (sha256 "
                f"{_short(old.target_sha256)} -> {_short(new.target_sha256)}): the inventory, "
                "a profile or a secret changed"
            )
    if saved.facts.engine_version != fresh.facts.engine_version:
        reasons.append(
            f"the host now runs Engine {fresh.facts.engine_version} "
            f"(the plan was made for {saved.facts.engine_version})"
        )
    if not reasons and saved.action is not fresh.action:
        reasons.append(
            f"the action is now {fresh.action.value} (the plan says {saved.action.value})"
        )
    return reasons


def _join(words: Sequence[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "absent"


__all__ = [
    "CLIENT_MODE",
    "DAEMON_JSON",
    "DAEMON_MODE",
    "DAEMON_SECRET_MODE",
    "LintSettings",
    "PlannedHost",
    "Targets",
    "daemon_mode",
    "failed_host",
    "key_reload",
    "needs_restart",
    "plan_from_facts",
    "stale_reasons",
]
