"""The plan of each file of a host (pure): daemon.json and each client
user's config.json, from the live file, the rendered target and the facts.

For each file: the target (:func:`fleetcfg.plan.targets.file_target`: the
rendered profile merged with the live file under ``manage: keys``), validated
again when other tools' keys joined it; the semantic and text diffs; drift
since fleetcfg's last write; for daemon.json, the keys dockerd applies only
when it starts (:mod:`fleetcfg.dockerd.reload`) and the keys ExecStart also
passes as flags (:mod:`fleetcfg.dockerd.flags`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fleetcfg.core.filedigest import file_digest, short_digest
from fleetcfg.core.hashing import canonical_json
from fleetcfg.core.secrets import holds_credentials, is_secret_path
from fleetcfg.core.versions import EngineVersion
from fleetcfg.dockerd.flags import conflicting_keys, parse_flags
from fleetcfg.dockerd.reload import Reload, key_reload, reset_note, restart_reason
from fleetcfg.dockerd.validation import CheckResult, check_client, check_daemon
from fleetcfg.plan.diff import Change, ChangeKind, render_change, semantic_diff, text_diff
from fleetcfg.plan.facts import Facts, FileFacts, UnitFacts
from fleetcfg.plan.model import FileKind, FilePlan, KeyChange
from fleetcfg.plan.notes import HostNotes
from fleetcfg.plan.plugins import check_logging_plugin
from fleetcfg.plan.targets import file_target
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


ReloadName = Literal["restart", "if-present", "always", "no-effect"]


def change_reload(change: Change) -> Reload:
    return key_reload(change.top_key)


def needs_restart(change: Change) -> str | None:
    """Why ``change`` needs a restart (None: a reload applies it)."""
    whole = len(change.loc) == 1
    return restart_reason(
        change.top_key,
        removed=whole and change.kind is ChangeKind.REMOVED,
        emptied=whole and change.new == "",
    )


def removal_note(change: Change) -> str | None:
    """The note for an ``always`` key that is removed (dockerd resets it)."""
    if change.kind is not ChangeKind.REMOVED or len(change.loc) != 1:
        return None
    return reset_note(change.top_key)


@functools.lru_cache(maxsize=1024)
def _check_daemon_cached(text: str, engine: EngineVersion) -> CheckResult[Any]:
    return check_daemon(json.loads(text), engine)


@functools.lru_cache(maxsize=1024)
def _check_client_cached(text: str) -> CheckResult[Any]:
    return check_client(json.loads(text))


def _key_changes(
    changes: Sequence[Change],
    kept: Sequence[str],
    current: Mapping[str, Any] | None,
    h: HostNotes,
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


def _drift(facts: Facts, file: FileFacts, h: HostNotes, label: str) -> None:
    entry = facts.state.record(file.path)
    if entry is None or not file.known:
        return
    if file.matches(entry.sha256):
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
        f"(sha256 now {short_digest(file.sha256)}, fleetcfg wrote {short_digest(entry.sha256)})"
    )


def _flag_conflicts(unit: UnitFacts, desired: Mapping[str, Any], h: HostNotes, path: str) -> None:
    """dockerd refuses to start when an option is both a flag and in the file."""
    proxies = desired.get("proxies")
    found: dict[str, list[str]] = {}
    for flag in parse_flags(unit.flags):
        for key in conflicting_keys(flag.name):
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


def plan_daemon(
    rendered: RenderedConfig, facts: Facts, engine: EngineVersion, h: HostNotes
) -> FilePlan | None:
    live = facts.daemon_json
    path = live.path
    label = path
    if not live.known:
        h.fail(f"cannot read {path}: {live.problem}")
        return None
    h.findings(rendered.findings)
    target = file_target(rendered, live.content if live.exists else None)
    current, problem, desired = target.current, target.problem, target.desired
    if problem is not None:
        h.daemon_unknown_running = True
        if rendered.manage == "keys":
            h.warn(
                f"the live {path} does not parse ({problem}); the plan replaces it, so the "
                "keys other tools wrote there cannot be kept"
            )
        else:
            h.warn(f"the live {path} does not parse ({problem}); the plan replaces it")

    live_restore = desired.get("live-restore")
    h.desired_live_restore = live_restore if isinstance(live_restore, bool) else None
    managed = rendered.managed_keys()
    kept: list[str] = []
    if rendered.manage == "keys" and current is not None and problem is None:
        kept = [k for k in current if k not in managed]
    if desired != rendered.to_json_dict():
        # foreign keys joined the target: validate the whole file again
        check = _check_daemon_cached(json.dumps(desired, sort_keys=True), engine)
        extra = [f for f in check.findings if f.path.split(".")[0] not in managed]
        h.findings(extra, prefix=f"{path} (a key fleetcfg keeps): ")
    if facts.unit is not None:
        _flag_conflicts(facts.unit, desired, h, path)
    _drift(facts, live, h, label)
    changes = semantic_diff(current if problem is None else {}, desired)
    write = problem is not None or bool(changes)
    target_text = canonical_json(desired)  # what target.content encodes
    target_bytes = target_text.encode() if write else b""
    for change in changes:
        if change_reload(change) is Reload.RESTART:
            if change.top_key not in h.start_only:
                h.start_only.append(change.top_key)
            continue
        why = needs_restart(change)
        if why and why not in h.restart_reasons:
            h.restart_reasons.append(why)
        note = removal_note(change)
        if note and note not in h.reset_notes:
            h.reset_notes.append(note)
    live_text = live.content.decode("utf-8", "replace") if live.content is not None else None
    diff = ""
    if write:
        diff = text_diff(
            live_text if live.exists else None,
            target_text,
            path=path,
            secrets=h.secrets,
            old_data=current if problem is None and live.exists else None,
            new_data=desired,
        )
        h.contents[path] = target_bytes
        h.daemon_changed = True
        check_logging_plugin(desired, facts, h)
    credentials = holds_credentials(target_text, rendered.secrets)
    return FilePlan(
        kind=FileKind.DAEMON,
        path=path,
        live_sha256=live.digest(credentials=credentials),
        target_sha256=file_digest(target_bytes, credentials=credentials) if write else None,
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


def plan_client(user: str, rendered: RenderedConfig, facts: Facts, h: HostNotes) -> FilePlan | None:
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
    target = file_target(rendered, live.content if live.exists else None)
    current, problem, desired = target.current, target.problem, target.desired
    if problem is not None:
        h.warn(
            f"the live {label} does not parse ({problem}); the docker CLI ignores it, and "
            "the plan replaces it (its other settings and credentials cannot be kept)"
        )
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
    target_bytes = target.content if write else b""
    credentials = current is not None and any(is_secret_path((k,)) for k in current)
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
        target_sha256=file_digest(target_bytes) if write else None,
        mode=CLIENT_MODE,
        owner=user,
        group=who.group or user,
        changes=_key_changes(changes, kept, current, h, client=True),
        text_diff=h.mask(diff),
        kept_keys=kept,
        **_file_attributes(live),
    )
