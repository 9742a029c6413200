"""The plan of a host's surface files (pure): certs.d certificates, unit
drop-ins, buildkitd.toml (:mod:`fleetcfg.render.surface`).

For each rendered file: the live file (read like daemon.json, refused when a
path component is a symlink, someone else's or writable by others), a text
diff (a secret file, the client key: its sha256 only), and the action a
change to it needs.

A file fleetcfg wrote earlier that the inventory no longer gives (its
registry, ``proxy:`` or ``buildkit:`` left, or the proxy moved to daemon.json)
is removed when fleetcfg created it (state.json records that: ``created``, or
``created_dir`` for a certs.d folder fleetcfg made, which goes with it once
empty), with the action its removal needs: nothing for certs.d,
daemon-reload + restart for the proxy drop-in, the builder recreated without
buildkitd.toml. A file that existed before fleetcfg first wrote it is left in
place, and the plan says so while it still holds what fleetcfg wrote
(fleetcfg does not restore the content it had before: see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fleetcfg.core.filedigest import holds_private_key, short_digest
from fleetcfg.core.findings import Finding
from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.rules import CERTS_D_FILE_NAMES, CERTS_D_FOLDER
from fleetcfg.host.state import CREATED_DIR, FileRecord
from fleetcfg.plan.diff import text_diff
from fleetcfg.plan.facts import Facts, FileFacts
from fleetcfg.plan.model import FileKind, FilePlan, KeyChange
from fleetcfg.plan.notes import HostNotes
from fleetcfg.render.registries import CERTS_D, RegistryEntry
from fleetcfg.render.surface import (
    SECRET_MODE,
    SURFACE_KINDS,
    ApplyAction,
    SurfaceFile,
    SurfaceResult,
)
from fleetcfg.render.surface import buildkitd as buildkit_surface
from fleetcfg.render.surface.dropin import REMOVED as DROPIN_REMOVED


@dataclass
class SurfaceNotes:
    """What the surface files add to a host's action."""

    #: (action, reason) of each changed file
    actions: list[tuple[ApplyAction, str]] = field(default_factory=list)
    #: folders apply creates for new files (fleetcfg owns them afterwards)
    created_dirs: list[str] = field(default_factory=list)
    #: folders fleetcfg created that go once their files are removed
    remove_dirs: list[str] = field(default_factory=list)
    #: what applies the changed files after the daemon (the builder's commands)
    commands: list[list[str]] = field(default_factory=list)


def surface_paths(result: SurfaceResult | None, facts: Facts) -> list[str]:
    """The files plan reads for the surface: the rendered ones, those
    fleetcfg wrote earlier in folders it created (candidates for removal),
    and the places of the classic certs.d mistakes (:func:`probes`)."""
    paths = [f.path for f in result.files] if result is not None else []
    for record in retired_records(facts, paths):
        paths.append(record.path)
    if result is not None:
        paths.extend(probes(result))
    return sorted(set(paths))


#: the folder dockerd never reads (the classic typo of certs.d)
CERT_D = "/etc/docker/cert.d"


def probes(result: SurfaceResult) -> dict[str, tuple[RegistryEntry | None, str]]:
    """Paths whose presence on the host is a mistake about a registry of
    the host: path -> (the registry, what is wrong). A folder named without
    the port of a registry that has one (dockerd never reads it for that
    registry), a client certificate saved as ``client.crt`` (read as a CA) or
    a CA saved as ``ca.cert`` (read as a client certificate without its
    key), and ``/etc/docker/cert.d``."""
    found: dict[str, tuple[RegistryEntry | None, str]] = {}
    owned = {e.certs_dir for e in result.registries}
    for entry in result.registries:
        if not (
            entry.has_ca or "client_cert" in entry.fields or "client_cert_file" in entry.fields
        ):
            continue
        folder = f"{CERTS_D}/{entry.host}"
        if entry.port is not None and folder not in owned:
            found[folder] = (
                entry,
                f"{folder} is named without the port: dockerd reads {entry.certs_dir} for "
                f"{entry.address}, never {folder} (fleetcfg writes the registry's files to "
                f"{entry.certs_dir}); move or remove {folder}",
            )
        for name, what in (
            (
                "client.crt",
                "a *.crt file is read as a CA, not as a client certificate: name it "
                "client.cert (with client.key)",
            ),
            (
                "ca.cert",
                "a *.cert file is read as a client certificate, and without its "
                "ca.key dockerd refuses the registry: name a CA ca.crt",
            ),
        ):
            path = f"{entry.certs_dir}/{name}"
            found[path] = (entry, f"{path}: {what}")
    if found or any(entry.has_ca for entry in result.registries):
        found[CERT_D] = (None, f"{CERT_D} is never read: the folder dockerd reads is {CERTS_D}")
    return found


def probe_findings(result: SurfaceResult, facts: Facts) -> list[Finding]:
    """FC074 and FC075 for what the host has at :func:`probes`' paths."""
    out: list[Finding] = []
    for path, (entry, message) in probes(result).items():
        live = facts.surface.get(path)
        if live is None or not live.exists:
            continue
        rule = CERTS_D_FILE_NAMES if path.endswith((".crt", ".cert")) else CERTS_D_FOLDER
        where = entry.where() if entry is not None else None
        out.append(
            Finding(
                rule.id,
                rule.severity,
                message,
                path=f"registries.{entry.name}" if entry is not None else "",
                file=where.file if where else None,
                line=where.line if where else None,
                column=where.column if where else None,
                hosts=(result.host,),
            )
        )
    return out


def retired_records(facts: Facts, keep: Sequence[str]) -> list[FileRecord]:
    """The surface files state.json says fleetcfg wrote (and did not remove
    since) that are not in ``keep``: removed when fleetcfg created them,
    left in place otherwise (:func:`plan_retired`)."""
    return [
        record
        for path, record in sorted(facts.state.files.items())
        if record.kind in SURFACE_KINDS and path not in keep and record.sha256 is not None
    ]


def _display(file: SurfaceFile, live: str | None, *, live_key: bool = False) -> str:
    if file.secret:
        return (
            f"~ {file.path}: secret, sha256 {short_digest(live)} -> "
            f"{short_digest(file.digest)} ({len(file.content)} bytes, mode {file.mode:04o})"
        )
    if live_key:
        return (
            f"~ {file.path}: the live file holds a private key, not shown "
            f"({len(file.content)} bytes, mode {file.mode:04o})"
        )
    verb = "~" if live is not None else "+"
    return f"{verb} {file.path} ({len(file.content)} bytes, sha256 {short_digest(file.digest)})"


def plan_surface_file(
    file: SurfaceFile, facts: Facts, h: HostNotes, notes: SurfaceNotes
) -> FilePlan | None:
    live = facts.surface.get(file.path)
    if live is None or not live.known:
        why = live.problem if live is not None else "it was not read"
        h.fail(f"cannot read {file.path}: {why}")
        return None
    target = file.digest
    live_sha = live.digest(credentials=file.holds_credentials)
    write = not live.exists or live_sha != target
    # a host's file may hold a key where fleetcfg writes none (a client.cert
    # with its key appended): never shown, like a secret file
    live_key = not file.secret and holds_private_key(live.content)
    mode_only = not write and live.mode is not None and live.mode != file.mode
    diff = ""
    changes: list[KeyChange] = []
    if write or mode_only:
        notes.actions.append((file.action, file.reason))
        notes.commands += [list(c) for c in file.commands if list(c) not in notes.commands]
        h.contents[file.path] = file.content
        changes.append(
            KeyChange(
                path=file.path,
                kind="changed" if live.exists else "added",
                display=h.mask(_display(file, live_sha, live_key=live_key))
                if write
                else f"~ {file.path}: mode {live.mode:04o} -> {file.mode:04o}",
                reload="no-effect",
            )
        )
        if write and not file.secret and not live_key:
            old = live.content.decode("utf-8", "replace") if live.content is not None else None
            diff = text_diff(
                old if live.exists else None,
                file.content.decode("utf-8", "replace"),
                path=file.path,
                secrets=h.secrets,
            )
        if not live.parent_exists and file.owned_dir and file.owned_dir not in notes.created_dirs:
            notes.created_dirs.append(file.owned_dir)
    _drift(facts, live, h)
    return FilePlan(
        kind=FileKind(file.kind),
        path=file.path,
        live_sha256=live_sha,
        target_sha256=target if write or mode_only else None,
        mode=file.mode,
        owner="root",
        group="root",
        changes=changes,
        text_diff=h.mask(diff),
        credentials=file.holds_credentials,
        record=dict(file.record),
        live_mode=live.mode,
        live_owner=live.owner,
        live_group=live.group,
        parent_exists=live.parent_exists,
        effect=file.action.value,
    )


def _drift(facts: Facts, live: FileFacts, h: HostNotes) -> None:
    entry = facts.state.record(live.path)
    if entry is None or entry.sha256 is None or not live.known:
        return
    if not live.matches(entry.sha256):
        what = "changed" if live.exists else "deleted"
        h.warn(
            f"drift: {live.path} was {what} outside fleetcfg since fleetcfg last wrote it "
            f"({entry.written_at} by {entry.written_by})"
        )


#: why each kind of file left the inventory (the plan's line for its removal)
_GONE = {
    "certs.d": "its registry left the inventory",
    "dropin": "the host's proxy no longer goes to the drop-in",
    "buildkit": "the host has no buildkit: any more",
}
#: what a file left in place still does
_STAYS = {
    "certs.d": "dockerd still reads it",
    "dropin": "systemd still gives dockerd its proxy",
    "buildkit": "the builder still uses it",
}


def removal_effect(record: FileRecord) -> tuple[ApplyAction, str, list[list[str]]]:
    """What removing the file of ``record`` needs: the action, why, and the
    commands that apply it once the daemon is healthy (the builder's)."""
    if record.kind == "dropin":
        return ApplyAction.DAEMON_RELOAD_RESTART, DROPIN_REMOVED, []
    if record.kind == "buildkit":
        what, commands = buildkit_surface.removal(record.extra)
        action = ApplyAction.RECREATE_BUILDER if commands else ApplyAction.NONE
        return action, f"buildkitd.toml was removed ({what})", [list(c) for c in commands]
    return ApplyAction.NONE, f"{record.path} is no longer in the inventory", []


def plan_retired(
    record: FileRecord, facts: Facts, h: HostNotes, notes: SurfaceNotes
) -> FilePlan | None:
    """A file fleetcfg wrote that the inventory no longer gives: removed
    when fleetcfg created it (and its folder once empty, when fleetcfg made
    that too), with the action its removal needs; else left in place."""
    live = facts.surface.get(record.path)
    if live is None or not live.known:
        why = live.problem if live is not None else "it was not read"
        h.fail(f"cannot read {record.path}: {why}")
        return None
    if not record.created:
        if live.exists and live.matches(record.sha256):
            h.warn(
                f"{record.path} is no longer managed by fleetcfg ({_GONE.get(record.kind, '')}) "
                f"and is left in place: it existed before fleetcfg first wrote it, and "
                f"{_STAYS.get(record.kind, 'it stays as it is')}; delete it by hand, or put "
                "back what it held before fleetcfg with `fleetcfg rollback --list` and "
                "`--backup NAME`"
            )
        return None
    folder = record.extra.get(CREATED_DIR)
    if isinstance(folder, str) and folder not in notes.remove_dirs:
        notes.remove_dirs.append(folder)
    if not live.exists:
        return None
    _drift(facts, live, h)
    action, reason, commands = removal_effect(record)
    notes.actions.append((action, reason))
    notes.commands += [c for c in commands if c not in notes.commands]
    return FilePlan(
        kind=FileKind(record.kind),
        path=record.path,
        live_sha256=live.sha256,
        target_sha256=None,
        remove=True,
        mode=live.mode or 0o644,
        owner="root",
        group="root",
        changes=[
            KeyChange(
                path=record.path,
                kind="removed",
                display=f"- {record.path} (fleetcfg created it; {_GONE.get(record.kind, '')})",
                reload="no-effect",
            )
        ],
        credentials=record.path.endswith(".key") or live.mode == SECRET_MODE,
        live_mode=live.mode,
        live_owner=live.owner,
        live_group=live.group,
        parent_exists=live.parent_exists,
        effect=action.value,
    )


def plan_surface(
    result: SurfaceResult | None, facts: Facts, h: HostNotes
) -> tuple[list[FilePlan], SurfaceNotes]:
    """Every surface file of the host: rendered ones, then removals."""
    notes = SurfaceNotes()
    plans: list[FilePlan] = []
    if result is not None:
        h.findings(result.findings)
        h.findings(probe_findings(result, facts))
        for file in result.files:
            planned = plan_surface_file(file, facts, h, notes)
            if planned is not None:
                plans.append(planned)
    keep = [f.path for f in result.files] if result is not None else []
    for record in retired_records(facts, keep):
        planned = plan_retired(record, facts, h, notes)
        if planned is not None:
            plans.append(planned)
    return plans, notes


def content_sha(content: bytes) -> str:
    return sha256_hex(content)
