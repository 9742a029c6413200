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

The files are planned by :mod:`fleetcfg.plan.files` (what is collected on
the way: :mod:`fleetcfg.plan.notes`); this module decides the host's action.
The result is a :class:`PlannedHost`: the :class:`~fleetcfg.plan.model.HostPlan`
(masked, safe to print and to save) plus the exact bytes to write
(``contents``, secrets in clear: never print them). :func:`stale_reasons`
compares a saved host plan with a fresh one (apply refuses a stale plan).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.filedigest import short_digest
from fleetcfg.core.secrets import mask_text, secrets_in_place
from fleetcfg.inventory import Host
from fleetcfg.plan.facts import DAEMON_JSON, STATE_FILE, Facts, FileFacts
from fleetcfg.plan.files import (
    CLIENT_MODE,
    DAEMON_MODE,
    DAEMON_SECRET_MODE,
    daemon_mode,
    plan_client,
    plan_daemon,
)
from fleetcfg.plan.model import Action, HostPlan
from fleetcfg.plan.notes import HostNotes, LintSettings
from fleetcfg.plan.running import unloaded_reason
from fleetcfg.plan.surface import SurfaceNotes, plan_surface
from fleetcfg.plan.targets import Targets, decode_live
from fleetcfg.render import RenderedConfig
from fleetcfg.render.surface import ApplyAction, combined_action


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
# the host


def _host_checks(host: Host, facts: Facts, h: HostNotes, has_daemon: bool) -> None:
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
    if facts.state_problem:
        h.warn(
            f"fleetcfg's record of this host ({STATE_FILE}) is not used: {facts.state_problem} "
            "(drift and an interrupted apply cannot be seen from it; apply moves it aside "
            "and starts a new one)"
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


def _decide(facts: Facts, h: HostNotes) -> Action:
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


_SEVERITY: dict[Action, int] = {
    Action.NONE: 0,
    Action.WRITE: 1,
    Action.RELOAD: 2,
    Action.RESTART: 3,
}
#: the host action a surface file's effect needs at least
_SURFACE_ACTION: dict[ApplyAction, Action] = {
    ApplyAction.NONE: Action.WRITE,
    ApplyAction.RELOAD: Action.RELOAD,
    ApplyAction.RESTART: Action.RESTART,
    ApplyAction.DAEMON_RELOAD_RESTART: Action.RESTART,
    ApplyAction.RECREATE_BUILDER: Action.WRITE,
}


def surface_action(action: Action, effects: Iterable[ApplyAction]) -> Action:
    """``action`` raised to what each surface file's effect needs at least
    (apply's rule; rollback uses it for the files it puts back)."""
    final = action
    for effect in effects:
        final = max(final, _SURFACE_ACTION[effect], key=lambda a: _SEVERITY[a])
    return final


def _with_surface(
    action: Action, notes: SurfaceNotes, facts: Facts, h: HostNotes
) -> tuple[Action, tuple[ApplyAction, ...]]:
    """The host's action once its surface files join: the strongest of the
    daemon.json action and what each changed surface file needs (a certs.d
    file: nothing to reload; a unit drop-in: daemon-reload + restart; a
    builder config: builder recreation), with one reason per effect."""
    if action is Action.ERROR or not notes.actions:
        return action, ()
    effects = combined_action(a for a, _ in notes.actions)
    final = surface_action(action, (a for a, _ in notes.actions))
    for effect, reason in dict.fromkeys(notes.actions):
        h.reasons.append(f"{effect.label}: {reason}")
    if final is Action.RESTART and action is not Action.RESTART:
        _restart_warnings(facts, h)
    return final, effects


_ACTIONS = {a.value for a in _SEVERITY}


def _finish_pending(host: Host, facts: Facts, h: HostNotes, action: Action) -> Action:
    """An apply that replaced files and never saw the daemon healthy with them
    (killed, or the host became unreachable) left a pending mark in
    state.json: the daemon may still run the old file, so the host needs what
    that apply was to do; a daemon that failed meanwhile is an error."""
    pending = facts.state.pending
    if pending is None or action is Action.ERROR:
        return action
    path = facts.daemon_json.path
    new_on_disk = path in pending.files and facts.daemon_json.matches(pending.files[path])
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


def _restart_unloaded(facts: Facts, h: HostNotes, action: Action) -> Action:
    """A daemon.json on disk newer than what the running dockerd loaded
    (:mod:`fleetcfg.plan.running`) needs a restart, even when the file is
    already the target (an apply killed after its replace, a hand copy or
    edit without a restart); a pending mark is decided from the mark."""
    if action is Action.ERROR or facts.state.pending is not None:
        return action
    why = unloaded_reason(facts)
    if why is None:
        return action
    h.reasons.append(f"restart: {why}")
    _restart_warnings(facts, h)
    return Action.RESTART


def _restart_warnings(facts: Facts, h: HostNotes) -> None:
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
        current, _ = decode_live(live.content if live.exists else None)
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
    h = HostNotes(secrets=all_secrets, lint=lint or LintSettings())
    has_daemon = targets.daemon is not None
    _host_checks(host, facts, h, has_daemon)
    if isinstance(targets.daemon, FleetcfgError):
        h.fail(str(targets.daemon))
    elif (
        isinstance(targets.daemon, RenderedConfig)
        and facts.engine is not None
        and (facts.unit is None or facts.unit.loaded)
    ):
        daemon = plan_daemon(targets.daemon, facts, facts.engine, h)
        if daemon is not None:
            h.files.append(daemon)
    for user, target in targets.clients.items():
        if isinstance(target, FleetcfgError):
            h.fail(f"{user}'s config.json: {target}")
            continue
        client = plan_client(user, target, facts, h)
        if client is not None:
            h.files.append(client)
    surface = targets.surface
    if isinstance(surface, FleetcfgError):
        h.fail(str(surface))
        surface = None
    surface_files, surface_notes = plan_surface(surface, facts, h)
    h.files.extend(surface_files)
    action, effects = _with_surface(_decide(facts, h), surface_notes, facts, h)
    action = _finish_pending(host, facts, h, action)
    if has_daemon:
        action = _restart_unloaded(facts, h, action)
    recreate = ApplyAction.RECREATE_BUILDER in effects and action is not Action.ERROR
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
        lint_disabled=sorted(h.lint.disable),
        daemon_reload=ApplyAction.DAEMON_RELOAD_RESTART in effects and action is Action.RESTART,
        recreate_builder=recreate,
        builder_commands=surface_notes.commands if recreate else [],
        created_dirs=surface_notes.created_dirs,
        remove_dirs=surface_notes.remove_dirs,
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
                f"{short_digest(old.live_sha256)} -> {short_digest(new.live_sha256)})"
            )
        if old.target_sha256 != new.target_sha256:
            reasons.append(
                f"the target of {path} changed since the plan (sha256 "
                f"{short_digest(old.target_sha256)} -> {short_digest(new.target_sha256)}): the inventory, "
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
    "plan_from_facts",
    "stale_reasons",
]
