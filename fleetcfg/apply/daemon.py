"""Daemon control: how apply reloads, restarts, checks and recovers dockerd on
one host. Every reload or restart apply or rollback issues comes from here:
either handed to the install program (:func:`action_commands`, so that it runs
right after the replace in the same round trip) or run directly
(:func:`act`, :func:`recover`).

``reload``/``restart``
    ``systemctl reset-failed`` + ``restart``, or ``reload``, as the plan says
    (the inventory's ``service`` commands); nothing for client config.json
    changes.
``health`` [one round trip per check, while it waits]
    the unit is active, ``docker info`` answers, with live-restore the
    running containers are back to their count before the restart, and the
    optional health command passes, within ``health_timeout``; after a
    reload, the daemon's log must show it applied the file (dockerd handles
    SIGHUP asynchronously and keeps its old settings when it refuses a file).
``recover``
    after the old files are put back: restart the daemon (or reload it, when a
    reload failed and it still runs) and check its health again.

Every reload or restart run directly goes through the beat program
(:func:`under_heartbeat`): the lock's heartbeat and busy file while it runs,
as the install program keeps them for its own restart, so that a
``--break-lock`` refuses the lock while dockerd restarts.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from fleetcfg.apply.hostrun import HostRun
from fleetcfg.apply.phases import Phase
from fleetcfg.apply.report import StepStatus
from fleetcfg.core.errors import OutputTooLargeError, StepFailedError, TransportError
from fleetcfg.core.numbers import is_digits
from fleetcfg.dockerd.log import reload_outcome, start_error
from fleetcfg.host.programs import Beat
from fleetcfg.host.programs.base import quote_argv
from fleetcfg.host.state import (
    LOCK_BUSY_PATH,
    LOCK_HEARTBEAT_EVERY,
    LOCK_OWNER_PATH,
    heartbeat_argv,
)
from fleetcfg.host.transport.base import CommandResult
from fleetcfg.host.transport.caps import MIB
from fleetcfg.plan.model import Action, FileKind
from fleetcfg.render.surface.buildkitd import BOOTSTRAP_FLAG, CONFIG_FLAG

#: bounded like the plan's facts: a dockerd that died behind a still-listening
#: docker.socket (or a wedged one) must not hang the health check forever
DOCKER_INFO = ("timeout", "10", "docker", "info", "--format", "{{json .ContainersRunning}}")
DOCKER_PS = ("timeout", "10", "docker", "ps", "-q")
#: seconds to wait for a reload to show in dockerd's log at all (SIGHUP is
#: handled asynchronously) before passing the host without that confirmation;
#: once dockerd logged the signal, health waits for its verdict
RELOAD_SETTLE = 10.0
#: run before the restart when a unit drop-in changed
DAEMON_RELOAD = ("systemctl", "daemon-reload")
#: the most fleetcfg reads of the daemon's log (``journalctl -n 50``)
LOG_OUTPUT = MIB


def action_name(action: Action) -> str:
    return "restart" if action is Action.RESTART else "reload"


def restart_command(run: HostRun) -> tuple[str, ...]:
    """The restart, after ``systemctl daemon-reload`` when a unit drop-in
    changed (one command line: the restart runs only if the daemon-reload
    succeeded)."""
    if not run.daemon_reload:
        return run.service.restart
    line = f"{quote_argv(DAEMON_RELOAD)} && {quote_argv(run.service.restart)}"
    return ("sh", "-c", line)


def under_heartbeat(argv: Sequence[str]) -> list[str]:
    """``argv`` run by the beat program: the lock's heartbeat every
    :data:`~fleetcfg.host.state.LOCK_HEARTBEAT_EVERY` seconds and its busy
    file while it runs (a restart may take long, and go on after the run
    that started it is gone)."""
    return Beat(LOCK_OWNER_PATH, LOCK_BUSY_PATH, LOCK_HEARTBEAT_EVERY, tuple(argv)).argv()


def action_commands(run: HostRun) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(pre, action)``: what runs right after the replace (``pre``'s failure
    is ignored)."""
    if run.action is Action.RELOAD:
        return (), run.service.reload
    if run.action is Action.RESTART:
        return run.service.reset_failed, restart_command(run)
    return (), ()


def builder_commands(run: HostRun) -> list[list[str]]:
    """How the run recreates the BuildKit builder once the daemon is
    healthy (``run.recreate_builder``): each argv in order, each only after
    the one before succeeded (``docker buildx rm --keep-state`` then
    ``create ... --bootstrap``, or a standalone buildkitd's restart: the
    buildkit file's commands, from the host planned again under the lock, or
    for a rollback from the builder state.json recorded, else the inventory's
    ``buildkit:``)."""
    return run.builder_commands


def recreate_builder(run: HostRun) -> None:
    """Recreate the builder when its config changed: while the lock is held,
    after the daemon passed its health check and before the host counts as
    healthy, so that a failure (a config the bootstrapped buildkitd rejects)
    is handled like a failed health gate: the old files go back and the
    builder is recreated with them (:func:`recover_builder`)."""
    if not run.builds:
        return
    run.builder_touched = True
    _run_builder(run, builder_commands(run), "builder")


def checked(run: HostRun, reached: Phase) -> Phase:
    """The phase an install program reached: a passed health check is not
    healthy yet while the builder is still to be recreated."""
    if reached is Phase.HEALTHY and run.builds:
        run.daemon_checked = True
        return Phase.ACTED
    return reached


def health_then_builder(run: HostRun) -> None:
    """The health gate (unless the install program passed it), then the
    builder's recreation."""
    if not run.daemon_checked:
        health(run, after=run.action)
    recreate_builder(run)


def recover_builder(run: HostRun) -> None:
    """After the old files are back: recreate the builder this run touched
    with the old buildkitd.toml (without ``--buildkitd-config`` when there
    was none), once the daemon is healthy again."""
    if not run.builder_touched or not run.result.rolled_back:
        return
    if run.result.recovered is False:
        run.result.reason += "; the builder was not recreated: the daemon is not healthy"
        return
    try:
        _run_builder(run, _restored_builder_commands(run), "recover-builder")
    except StepFailedError as failed:
        run.result.recovered = False
        run.result.reason += (
            f"; recreating the builder with the old buildkitd.toml failed too: {failed.message}"
        )
        return
    if run.result.recovered is None:
        run.result.recovered = True


def _restored_builder_commands(run: HostRun) -> list[list[str]]:
    """The builder's commands for the buildkitd.toml the recovery put back
    (with or without ``--buildkitd-config``, as the file is there or not)."""
    config = next((c for c in run.changes if c.kind is FileKind.BUILDKIT), None)
    if config is None:
        return builder_commands(run)
    return with_config(builder_commands(run), config.path, exists=config.live_exists)


def with_config(commands: list[list[str]], path: str, *, exists: bool) -> list[list[str]]:
    """``commands`` whose ``docker buildx create`` names ``path`` with
    ``--buildkitd-config`` (and boots the builder to check it) when the file
    ``exists``, and no config when not."""
    out = []
    for argv in commands:
        if argv[:3] != ["docker", "buildx", "create"]:
            out.append(argv)
            continue
        at = argv.index(CONFIG_FLAG) if CONFIG_FLAG in argv else len(argv)
        bare = [a for a in argv[:at] + argv[at + 2 :] if a != BOOTSTRAP_FLAG]
        out.append([*bare, CONFIG_FLAG, path, BOOTSTRAP_FLAG] if exists else bare)
    return out


def _run_builder(run: HostRun, commands: list[list[str]], step: str) -> None:
    started = run.ctx.clock()
    for argv in commands:
        # a bootstrap may pull buildkit's image: the lock's heartbeat first
        result = run.t.run_many([heartbeat_argv(), argv])[1]
        if not result.ok:
            detail = f"`{' '.join(argv)}` failed: {run.said(result.stderr or result.stdout)}"
            run.step(step, StepStatus.FAILED, detail, started)
            raise StepFailedError(step, detail)
    run.step(step, StepStatus.OK, "; ".join(" ".join(c) for c in commands), started)


def effect_name(run: HostRun) -> str:
    """The host's action as plan shows it (``daemon-reload + restart``,
    ``+ builder recreation``); empty for a plain reload, restart or write."""
    if not run.daemon_reload and not run.builds:
        return ""
    words = "daemon-reload + restart" if run.daemon_reload else run.action.value
    return words + (" + builder recreation" if run.builds else "")


def first_check(run: HostRun) -> dict[str, Any]:
    """The health check the install program makes right after a restart."""
    if run.action is not Action.RESTART:
        return {}
    return {
        "status": run.service.status,
        "info": DOCKER_INFO,
        "health": run.service.health,
        "want": run.baseline,
    }


def extra_reads(run: HostRun) -> dict[str, list[str]]:
    """What the lock round trip also reads for the daemon: the host's clock
    before a reload (to read the daemon's log since), the running containers
    before a restart with live-restore."""
    commands: dict[str, list[str]] = {}
    if run.action is Action.RELOAD:
        commands["time"] = ["date", "+%s"]
    if run.action is Action.RESTART and run.live_restore:
        commands["containers"] = list(DOCKER_PS)
    return commands


def store_extra_reads(run: HostRun, results: dict[str, CommandResult]) -> None:
    containers = results.get("containers")
    if containers is not None and containers.ok:
        run.baseline = len(containers.stdout.split())
    clock = results.get("time")
    if clock is not None and clock.ok and is_digits(clock.stdout.strip()):
        run.host_time = clock.stdout.strip()


def act(run: HostRun) -> None:
    """Reload or restart as the run's action says (when no install program
    did it: a rollback that only removes files)."""
    started = run.ctx.clock()
    if run.action is Action.RELOAD:
        result = run.t.run(under_heartbeat(run.service.reload))
        if not result.ok:
            raise StepFailedError(
                "reload",
                f"`{' '.join(run.service.reload)}` failed: "
                f"{run.said(result.stderr or result.stdout)}",
            )
        run.step("reload", StepStatus.OK, " ".join(run.service.reload), started)
    elif run.action is Action.RESTART:
        result = restart(run)
        if not result.ok:
            why = daemon_error(run) or run.said(result.stderr or result.stdout)
            raise StepFailedError("restart", f"`{' '.join(run.service.restart)}` failed: {why}")
        run.step("restart", StepStatus.OK, " ".join(run.service.restart), started)
    else:
        run.step("service", StepStatus.SKIPPED, _untouched(run))


def _untouched(run: HostRun) -> str:
    """Why dockerd is not touched: only files it does not read on start changed."""
    surface = [c for c in run.changes if c.kind.surface]
    if surface and len(surface) == len(run.changes):
        if all(c.kind is FileKind.CERTS_D for c in surface):
            return "certs.d only: dockerd reads it on every pull, nothing to reload"
        return "no file dockerd reads when it starts changed: dockerd is not touched"
    return "client config only: dockerd is not touched"


def restart(run: HostRun) -> CommandResult:
    """Restart the daemon (after ``reset_failed``), under the lock's heartbeat."""
    command = under_heartbeat(restart_command(run))
    if run.service.reset_failed:
        return run.t.run_many([list(run.service.reset_failed), command])[1]
    return run.t.run(command)


def daemon_error(run: HostRun) -> str | None:
    """Why dockerd did not start, from its log (None: unknown)."""
    if not run.service.logs:
        return None
    try:
        logs = run.t.run(list(run.service.logs), max_output=LOG_OUTPUT)
    except TransportError:
        return None
    return start_error(logs.stdout) if logs.ok else None


def _reload_log_command(run: HostRun) -> list[str]:
    """The log command, limited to what the daemon logged since before the
    reload when it is journalctl and the host's clock is known."""
    logs = list(run.service.logs)
    if logs and posixpath.basename(logs[0]) == "journalctl" and run.host_time:
        logs += ["--since", f"@{run.host_time}"]
    return logs


def health(run: HostRun, *, after: Action, baseline: bool = True, step: str = "health") -> None:
    """Poll until the daemon is healthy or ``health_timeout`` passes."""
    if after not in (Action.RELOAD, Action.RESTART):
        return
    service = run.service
    started = run.ctx.clock()
    deadline = started + service.health_timeout
    settle = started + min(RELOAD_SETTLE, service.health_timeout)
    watch_reload = after is Action.RELOAD and bool(service.logs) and step == "health"
    want = run.baseline if baseline else None
    reload_note = ""
    while True:
        commands = [heartbeat_argv(), list(service.status), list(DOCKER_INFO)]
        if service.health:
            commands.append(list(service.health))
        if watch_reload:
            commands.append(_reload_log_command(run))
        try:
            results = run.t.run_many(commands)[1:]
        except OutputTooLargeError as exc:
            run.step(step, StepStatus.FAILED, exc.message, started)
            raise StepFailedError(
                step, f"cannot check the daemon after the {after.value}: {exc.message}"
            ) from None
        status, info = results[0], results[1]
        checked = results[2] if service.health else None
        problems: list[str] = []
        if watch_reload:
            outcome, error = reload_outcome(results[-1].stdout)
            if outcome == "error":
                run.step(step, StepStatus.FAILED, f"dockerd: {error}", started)
                raise StepFailedError(step, f"dockerd refused the reloaded configuration: {error}")
            if outcome == "ok":
                watch_reload = False
                reload_note = "; dockerd reloaded the file"
            elif outcome == "unseen" and run.ctx.clock() >= settle:
                watch_reload = False
                reload_note = "; the daemon's log does not confirm the reload"
            else:
                # dockerd got the signal and has not said how it ended: wait
                # for its verdict (a reload can still fail, and some failures
                # stop dockerd, e.g. an authorization plugin it cannot find)
                problems.append("dockerd is reloading (its log has no verdict yet)")
        unit = status.stdout.strip() or status.stderr.strip() or f"exit {status.exit_status}"
        if not status.ok:
            problems.append(f"the daemon is {unit}")
        running: int | None = None
        if info.ok:
            try:
                running = int(info.stdout.strip())
            except ValueError:
                running = None
        else:
            problems.append(f"docker info: {run.said(info.stderr or info.stdout, 200)}")
        if checked is not None and not checked.ok:
            problems.append(
                f"`{' '.join(service.health)}` exits {checked.exit_status}: "
                f"{run.said(checked.stderr or checked.stdout, 200)}"
            )
        if not problems and want is not None and running is not None and running < want:
            problems.append(f"{running} of the {want} containers that ran before are running")
        if not problems:
            count = f", {running} containers running" if running is not None else ""
            run.step(
                step,
                StepStatus.OK,
                f"daemon active, docker info answers{count}{reload_note}",
                started,
            )
            return
        if unit == "failed" or run.ctx.clock() >= deadline:
            why = daemon_error(run) if not status.ok or not info.ok else None
            detail = "; ".join(problems) + (f"; dockerd: {why}" if why else "")
            run.step(step, StepStatus.FAILED, detail, started)
            within = f" within {service.health_timeout:g}s" if unit != "failed" else ""
            raise StepFailedError(step, f"not healthy after the {after.value}{within}: {detail}")
        run.ctx.sleep(run.ctx.poll_interval)


def recover(run: HostRun) -> None:
    """After the old files are back: bring the daemon back with them (a
    restored unit drop-in too: the restart then runs daemon-reload first)."""
    if run.daemon_change is None and not run.daemon_reload:
        return
    started = run.ctx.clock()
    status = run.t.run(list(run.service.status))
    if run.action is Action.RELOAD and status.ok:
        result = run.t.run(under_heartbeat(run.service.reload))
        again = Action.RELOAD
        command = run.service.reload
    else:
        result = restart(run)
        again = Action.RESTART
        command = run.service.restart
    if not result.ok:
        why = daemon_error(run) or run.said(result.stderr or result.stdout)
        run.step("recover", StepStatus.FAILED, f"`{' '.join(command)}` failed: {why}", started)
        run.result.recovered = False
        run.result.reason += f"; the daemon does not start with the restored file either: {why}"
        return
    run.step("recover", StepStatus.OK, " ".join(command), started)
    try:
        health(run, after=again, baseline=False, step="recover-health")
    except StepFailedError as failed:
        run.result.recovered = False
        run.result.reason += f"; after the rollback: {failed.message}"
        return
    run.result.recovered = True
