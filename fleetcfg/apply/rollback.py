"""``fleetcfg rollback HOST``: put back the backups of the last apply, with
the same care as apply (lock, validate, replace, restart, health gate, and a
roll-forward to the file it replaced if the restored one fails).

Which files: by default every file the host's newest fleetcfg run wrote
(state.json's ``run_id``), each restored from the backup that run made;
``files`` narrows that to some paths, ``backup`` picks one backup by name.
A file changed since fleetcfg wrote it is refused (``force`` overrides).
The list of changes is built from state.json once the lock is held, with the
host's facts read in the same round trip; the steps after that are apply's
(:mod:`fleetcfg.apply.steps`).

What putting the files back takes is apply's rule for each kind of file
(:data:`fleetcfg.render.surface.KIND_ACTIONS`), combined into one action:
daemon.json a reload or a restart as its changed keys need, a client
config.json or a certs.d file nothing, the proxy drop-in ``systemctl
daemon-reload`` then a restart, buildkitd.toml the builder's recreation
(the builder state.json recorded with the file, else the one the
inventory's ``buildkit:`` names) once the daemon is healthy, while the lock
is held; a failure of any of them puts back what the rollback replaced.

The rollback is itself recorded with a backup of the file it replaced, so
rolling back twice returns to where the host was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from fleetcfg.apply.daemon import with_config
from fleetcfg.apply.hostrun import FileChange, HostRun, first_lines
from fleetcfg.apply.lock import file_reads, lock
from fleetcfg.apply.recheck import refuse_stale
from fleetcfg.apply.report import StepStatus
from fleetcfg.apply.steps import Step, commit, finish, health_gate, validate_model
from fleetcfg.core.errors import StepFailedError, TransportError
from fleetcfg.core.filedigest import digest_matches, short_digest
from fleetcfg.host.programs.files import read_argv
from fleetcfg.host.state import FileRecord, HostState, backup_path
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.host.transport.scripts import parse_read_file
from fleetcfg.plan.decide import surface_action
from fleetcfg.plan.diff import semantic_diff
from fleetcfg.plan.facts import fact_commands, parse_facts
from fleetcfg.plan.files import needs_restart
from fleetcfg.plan.model import Action, FileKind
from fleetcfg.render.surface import KIND_ACTIONS, ApplyAction
from fleetcfg.render.surface.buildkitd import apply_commands, recorded


def backup_target(name: str) -> str:
    """The file a backup name belongs to (``etc%2Fdocker%2Fdaemon.json.2024...``
    -> ``/etc/docker/daemon.json``)."""
    quoted = name.rsplit(".", 2)[0] if name.count(".") >= 2 else name
    return "/" + unquote(quoted)


def wanted_files(files: Sequence[str], backup: str | None) -> list[str]:
    """The files a rollback asks for: the one ``backup`` belongs to, else
    ``files`` (empty: those of the host's last fleetcfg run)."""
    return [backup_target(backup)] if backup is not None else list(files)


def rollback_steps(
    files: Sequence[str] = (),
    backup: str | None = None,
    *,
    force: bool = False,
    builder: Sequence[Sequence[str]] = (),
) -> list[Step]:
    """The steps that roll one host back (see the module docstring);
    ``builder``: the commands that recreate the host's BuildKit builder
    from the inventory's ``buildkit:`` (when state.json names none)."""
    wanted = wanted_files(files, backup)
    records: dict[str, FileRecord] = {}

    def take_lock(run: HostRun) -> None:
        facts = fact_commands(save_engine=True)
        reads = {f"fact:{i}": argv for i, argv in enumerate(facts)}

        def after(results: dict[str, CommandResult]) -> dict[str, CommandResult]:
            found = parse_facts(run.host, [], [results[f"fact:{i}"] for i in range(len(facts))])
            run.set_facts(found.to_host_facts(run.ctx.mask))
            for change, record in choose(run.state, wanted, backup):
                run.changes.append(change)
                records[change.path] = record
            # until the files are read (recheck decides: a reload or a restart)
            run.set_action(Action.RESTART if run.daemon_change is not None else Action.WRITE)
            info = found.info
            if run.daemon_change is not None and info is not None and info.live_restore:
                run.baseline = info.running_containers
            return _read_backups(run)

        lock(run, reads, after)

    def recheck(run: HostRun) -> None:
        notes = restore_action(run, records, builder)
        recheck_records(run, records, force=force, notes=notes)

    return [take_lock, recheck, validate_model, commit, health_gate, finish]


def _document(content: bytes | None) -> dict[str, Any] | None:
    """A daemon.json's object (``{}`` for no file); ``None`` when it does not decode."""
    if content is None:
        return {}
    try:
        value = json.loads(content or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def rollback_action(change: FileChange | None) -> Action:
    """What putting back daemon.json takes, as for apply: a reload when
    every key that changes is one dockerd applies on SIGHUP, a restart
    otherwise (or when either file does not decode); only a write when
    daemon.json is not changed."""
    if change is None:
        return Action.WRITE
    live = _document(change.live if change.live_exists else None)
    restored = _document(change.new)
    if live is None or restored is None:
        return Action.RESTART
    changes = semantic_diff(live, restored)
    if not changes:
        return Action.WRITE
    return Action.RESTART if any(needs_restart(c) for c in changes) else Action.RELOAD


#: why a restored file of each surface kind needs its action
_RESTORED = {
    FileKind.CERTS_D: "certs.d is restored: dockerd reads it on every pull",
    FileKind.DROPIN: "the proxy drop-in is restored",
    FileKind.BUILDKIT: "buildkitd.toml is restored",
}


def restore_effects(kinds: Iterable[FileKind]) -> list[tuple[ApplyAction, str]]:
    """What putting back files of ``kinds`` takes, as for apply (daemon.json
    aside: :func:`rollback_action`), each effect with its reason."""
    return [
        (KIND_ACTIONS[kind.value], _RESTORED[kind])
        for kind in dict.fromkeys(kinds)
        if kind in _RESTORED
    ]


def effect_notes(
    effects: Sequence[tuple[ApplyAction, str]], builder: Sequence[Sequence[str]]
) -> list[str]:
    """The effects as rollback shows them ("daemon-reload + restart: the
    proxy drop-in is restored")."""
    notes = [f"{effect.label}: {why}" for effect, why in effects]
    if any(effect is ApplyAction.RECREATE_BUILDER for effect, _ in effects) and not builder:
        notes.append(
            "neither state.json nor the inventory's buildkit: names this host's builder: "
            "recreate the builder by hand to load the restored buildkitd.toml"
        )
    return notes


def builder_of(
    record: FileRecord | None, inventory: Sequence[Sequence[str]]
) -> tuple[tuple[str, ...], ...]:
    """What recreates the builder of a restored buildkitd.toml: the builder
    (or service) state.json recorded with the file, else the inventory's
    ``buildkit:`` (empty: neither names one)."""
    builder, service = recorded(record.extra) if record is not None else (None, None)
    if builder is not None or service is not None:
        return apply_commands(builder, service)
    return tuple(tuple(argv) for argv in inventory)


def restore_action(
    run: HostRun, records: Mapping[str, FileRecord], inventory: Sequence[Sequence[str]]
) -> list[str]:
    """Set the run's one action for the files it puts back (those whose
    content changes): the strongest each needs, ``systemctl daemon-reload``
    before the restart for a unit drop-in, the builder's recreation for
    buildkitd.toml (without ``--buildkitd-config`` when the file is
    removed); returns what to show."""
    changing = [c for c in run.changes if c.new_sha256 != c.live_sha256]
    effects = restore_effects(c.kind for c in changing)
    daemon_action = rollback_action(run.daemon_change)
    action = surface_action(daemon_action, (e for e, _ in effects))
    run.set_action(action)
    kinds = {e for e, _ in effects}
    run.daemon_reload = action is Action.RESTART and ApplyAction.DAEMON_RELOAD_RESTART in kinds
    run.recreate_builder = ApplyAction.RECREATE_BUILDER in kinds
    config = next((c for c in changing if c.kind is FileKind.BUILDKIT), None)
    commands: tuple[tuple[str, ...], ...] = ()
    if config is not None:
        commands = builder_of(records.get(config.path), inventory)
        run.builder_commands = with_config(
            [list(a) for a in commands], config.path, exists=config.new is not None
        )
    notes = effect_notes(effects, commands)
    change = run.daemon_change
    if change is not None and daemon_action in (Action.RELOAD, Action.RESTART):
        notes.insert(0, f"{daemon_action.value}: {change.path} is restored")
    return notes


def choose(
    state: HostState, wanted: Sequence[str], backup_name: str | None
) -> list[tuple[FileChange, FileRecord]]:
    """The files to restore, each with the state.json record of what
    fleetcfg wrote there last."""
    files = state.files
    if not files:
        raise StepFailedError(
            "recheck",
            "nothing to roll back: state.json records no file fleetcfg wrote on this host",
        )
    if wanted:
        unknown = [p for p in wanted if p not in files]
        if unknown:
            raise StepFailedError(
                "recheck",
                f"fleetcfg has not written {', '.join(unknown)} on this host "
                f"(state.json knows {', '.join(sorted(files))})",
            )
        chosen = [files[p] for p in wanted]
    else:
        newest = max(files.values(), key=lambda r: r.written_at)
        chosen = [r for r in files.values() if r.run_id == newest.run_id]
    picked: list[tuple[FileChange, FileRecord]] = []
    for record in sorted(chosen, key=lambda r: (r.kind != "daemon", r.path)):
        backup = record.last_backup
        if backup_name is not None:
            backup = next((b for b in record.backups if b.name == backup_name), None)
            if backup is None:
                raise StepFailedError(
                    "recheck",
                    f"no backup {backup_name} of {record.path} in state.json "
                    f"(known: {', '.join(b.name or '(absent)' for b in record.backups)})",
                )
        if backup is None:
            raise StepFailedError("recheck", f"state.json records no backup of {record.path}")
        kind = _record_kind(record)
        owner = record.user if kind is FileKind.CLIENT and record.user else "root"
        # a client key, and the proxy drop-in (it may hold the proxy password)
        secret = kind in (FileKind.CLIENT, FileKind.DROPIN) or record.path.endswith(".key")
        change = FileChange(
            path=record.path,
            kind=kind,
            user=record.user,
            mode=0o600 if secret else 0o644,
            owner=owner,
            group="" if kind is FileKind.CLIENT else "root",
            expect_live=record.sha256,
            copy_from=backup_path(backup.name) if backup.name else None,
            restoring=backup,
        )
        picked.append((change, record))
    return picked


def _record_kind(record: FileRecord) -> FileKind:
    """The kind of file a state.json record is (an unknown kind: a client
    config.json, as older versions recorded every file that was not daemon.json)."""
    try:
        return FileKind(record.kind)
    except ValueError:
        return FileKind.CLIENT


def _read_backups(run: HostRun) -> dict[str, CommandResult]:
    """Read the live files and the backups to restore (one round trip); the
    backups must hash as state.json records."""
    reads: dict[str, list[str]] = dict(file_reads(run))
    for index, change in enumerate(run.changes):
        if change.copy_from is not None:
            reads[f"backup:{index}"] = read_argv(change.copy_from)
    more = run.run_keyed(reads)
    for index, change in enumerate(run.changes):
        read = more.get(f"backup:{index}")
        if read is None:
            continue
        assert change.copy_from is not None
        try:  # at most 1 MiB, like every file fleetcfg reads from a host
            found = parse_read_file(
                change.copy_from,
                read.exit_status,
                read.stdout_bytes,
                read.stderr.encode(),
                run.host,
            )
        except TransportError as exc:
            raise StepFailedError(
                "recheck", f"cannot read the backup {change.copy_from}: {first_lines(exc.message)}"
            ) from None
        if not found.exists:
            raise StepFailedError(
                "recheck", f"cannot read the backup {change.copy_from}: it no longer exists"
            )
        change.new = found.content or b""
        expected = change.restoring.sha256 if change.restoring is not None else None
        if expected is not None and not digest_matches(expected, change.new):
            raise StepFailedError(
                "recheck",
                f"the backup {change.copy_from} does not hash as state.json records "
                f"(sha256 {short_digest(change.new_sha256)}, expected {short_digest(expected)}): "
                "it was changed; pick another with --backup",
            )
    return more


def recheck_records(
    run: HostRun,
    records: Mapping[str, FileRecord],
    *,
    force: bool,
    notes: Sequence[str] = (),
) -> None:
    """Each file still is what fleetcfg wrote (``force``: go on anyway);
    ``notes``: what the restore takes, shown with the step."""
    started = run.ctx.clock()
    problems = []
    for change in run.changes:
        record = records[change.path]
        if not digest_matches(record.sha256, change.live_bytes):
            problems.append(
                f"{change.path} changed since fleetcfg {record.command} wrote it at "
                f"{record.written_at} (sha256 {short_digest(record.sha256)} then, "
                f"{short_digest(change.live_sha256)} now)"
            )
    if problems and not force:
        refuse_stale(
            run,
            problems,
            started,
            ": rolling back would discard that change (use --force to do it anyway)",
        )
    shown = ", ".join(
        f"{c.path} <- {c.restoring.name or '(absent: remove it)'}"
        for c in run.changes
        if c.restoring is not None
    )
    note = f" (--force: {'; '.join(problems)})" if problems else ""
    then = f"; {'; '.join(notes)}" if notes else ""
    run.step("recheck", StepStatus.OK, f"restoring {shown}{note}{then}", started)
