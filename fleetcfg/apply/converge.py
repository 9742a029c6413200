"""``fleetcfg converge``: a host applies its own configuration (pull mode).

It runs on the host itself, from a checkout of the repo, through the local
transport and the same pipeline as ``fleetcfg apply``: plan (facts in one
round trip), then :func:`~fleetcfg.apply.rollout.apply_plan` (the host lock,
the stale check, validate, backup, atomic replace, reload or restart, the
health gate, rollback).

Around it: the disable file (exit 4 with who disabled it and why), a local
lock (a second converge exits 4 at once), the revision check (a git checkout
older than the revision this host last applied is refused), the record of
the last applied revision, and the Prometheus textfile metrics, written
atomically after every run.

Exit codes, like Puppet's ``--detailed-exitcodes``: 0 nothing to do, 2 changed,
1 failed (rolled back where anything was written) or refused, 4 disabled or
locked.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from fleetcfg.apply.pull_policy import hold
from fleetcfg.apply.report import ApplyReport, HostStatus
from fleetcfg.apply.rollout import ApplyOptions, EventCallback, RunEnv, apply_plan
from fleetcfg.core.boundedread import work_tree
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.core.numbers import is_digits
from fleetcfg.host.bundle import load_trusted_keys, read_bundle, unpack, verify_bundle
from fleetcfg.host.git_source import GitSource, export, resolve
from fleetcfg.host.pull import (
    ConvergeLockedError,
    ConvergeMetrics,
    PullPaths,
    Revision,
    converge_lock,
    first_seen,
    last_revision,
    older_revision,
    read_disabled,
    read_last,
    record_last,
    write_metrics,
)
from fleetcfg.host.pull_record import ConvergeRecord, write_record
from fleetcfg.host.source_trust import refuse_foreign_source
from fleetcfg.host.transport.base import Transport
from fleetcfg.host.transport.local import LocalTransport
from fleetcfg.host.transport.targets import LocalTarget, SshTarget
from fleetcfg.inventory import Host, Inventory, load_inventory
from fleetcfg.plan.access import Access
from fleetcfg.plan.fleet import plan_fleet
from fleetcfg.plan.model import Action, HostPlan
from fleetcfg.plan.replan import RenderedTargets
from fleetcfg.render import Renderer


@dataclass
class ConvergeResult:
    exit_code: ExitCode
    message: str
    plan: HostPlan | None = None
    report: ApplyReport | None = None
    revision: Revision | None = None
    #: the repo's sha256 (inventory.yaml, profiles/ and the files the host's
    #: renders read; the revision outside git)
    repo_sha256: str | None = None
    #: the rollout settings held the change back (nothing was written)
    held: bool = False
    restart_pending: bool = False

    @property
    def revision_label(self) -> str | None:
        if self.revision is not None:
            return self.revision.commit
        return f"sha256:{self.repo_sha256[:16]}" if self.repo_sha256 else None


def repo_revision(root: Path) -> Revision | None:
    """The git commit the checkout at ``root`` is on, and its commit time
    (None: not a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%H %ct"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 2 or not is_digits(parts[1]):
        return None
    return Revision(parts[0], int(parts[1]))


@dataclass(frozen=True)
class BundleSource:
    """Converge from a bundle made by ``fleetcfg bundle``, verified with the
    keys in ``trusted_keys`` before anything of it is written."""

    path: Path
    trusted_keys: Path


class _LocalOnly:
    """A connector that never opens SSH: converge reaches only its own host."""

    def open(self, target: SshTarget) -> Transport:
        return LocalTransport(LocalTarget(host=target.host, become=target.become))


def _local(host: Host) -> Host:
    return replace(host, settings={**host.settings, "connection": "local"})


def _exit_code(report: ApplyReport) -> tuple[ExitCode, str]:
    result = report.results[0] if report.results else None
    if result is None:
        return ExitCode.ERROR, "apply reported nothing for this host"
    done = result.describe().removeprefix(f"{result.host}: ")
    if result.status is HostStatus.CHANGED:
        return ExitCode.CHANGES, done
    if result.status is HostStatus.UNCHANGED:
        return ExitCode.OK, done
    if result.status is HostStatus.LOCKED:
        return ExitCode.LOCKED, done
    return ExitCode.ERROR, done


def converge(
    inventory: Inventory | BundleSource | GitSource,
    host_name: str,
    *,
    paths: PullPaths,
    user: str | None = None,
    on_event: EventCallback | None = None,
    now: Callable[[], float] = time.time,
) -> ConvergeResult:
    """Converge ``host_name`` (this host) and write the metrics."""
    started = now()
    last = read_last(paths)
    result = _converge(inventory, _Run(host_name, paths, user, on_event, last, now))
    success = result.exit_code in (ExitCode.OK, ExitCode.CHANGES)
    last_success = started if success else last.get("success_at")
    if success and result.held:
        record_last(paths, dict(last, success_at=started, host=host_name))
    elif success:
        record = dict(last, success_at=started, host=host_name)
        if result.revision is not None:
            record |= {"revision": result.revision.commit, "revision_time": result.revision.time}
        if result.repo_sha256 is not None:
            record["repo_sha256"] = result.repo_sha256
        record_last(paths, record)
    plan = result.plan
    drifted = sum(1 for w in plan.warnings if w.startswith("drift:")) if plan else 0
    applied = None if result.held else result.revision_label
    label = applied or _last_label(last)
    metrics = ConvergeMetrics(
        last_run=started,
        last_success=float(last_success) if isinstance(last_success, int | float) else None,
        exit_code=result.exit_code,
        revision=label or "unknown",
        files_drifted=drifted,
        restart_pending=result.restart_pending,
        disabled=read_disabled(paths) is not None,
    )
    state = converge_record(host_name, metrics, result.message, paths)
    for path, write in (
        (paths.status_file, lambda: write_record(paths, state)),
        (paths.metrics_file, lambda: write_metrics(paths, metrics)),
    ):
        try:
            write()
        except OSError as exc:
            result.message += f" (not written: {path}: {exc.strerror or exc})"
    return result


def _last_label(last: dict[str, object]) -> str | None:
    """The revision this host last applied, as the metrics name it."""
    revision = last_revision(last)
    if revision is not None:
        return revision.commit
    sha = last.get("repo_sha256")
    return f"sha256:{sha[:16]}" if isinstance(sha, str) and sha else None


def converge_record(
    host_name: str, metrics: ConvergeMetrics, message: str, paths: PullPaths
) -> ConvergeRecord:
    """What ``fleetcfg status`` reads: the values of the metrics, and what
    the run said."""
    return ConvergeRecord(
        host=host_name,
        last_run=metrics.last_run,
        last_success=metrics.last_success,
        exit_code=int(metrics.exit_code),
        message=message,
        revision=None if metrics.revision == "unknown" else metrics.revision,
        files_drifted=metrics.files_drifted,
        restart_pending=metrics.restart_pending,
        metrics_file=str(paths.metrics_file),
    )


@dataclass(frozen=True)
class _Run:
    """One converge run: this host, its state folder, and what the run was
    given (the client user, the event callback, the last run's record, the
    clock)."""

    host_name: str
    paths: PullPaths
    user: str | None
    on_event: EventCallback | None
    last: dict[str, object]
    now: Callable[[], float]


def _converge(inventory: Inventory | BundleSource | GitSource, run: _Run) -> ConvergeResult:
    disabled = read_disabled(run.paths)
    if disabled is not None:
        return ConvergeResult(
            ExitCode.LOCKED,
            f"converge is {disabled.describe()} (fleetcfg converge --enable turns it on again)",
        )
    try:
        refuse_foreign(inventory)
        with converge_lock(run.paths):
            if isinstance(inventory, GitSource):
                return _run_git(inventory, run)
            if isinstance(inventory, BundleSource):
                return _run_bundle(inventory, run)
            return _run(inventory, run)
    except ConvergeLockedError as exc:
        return ConvergeResult(ExitCode.LOCKED, exc.message)
    except FleetcfgError as exc:
        return ConvergeResult(ExitCode.ERROR, str(exc))


def refuse_foreign(source: Inventory | BundleSource | GitSource) -> None:
    """Refuse a source someone but root controls (:mod:`fleetcfg.host.source_trust`):
    the checkout (its git work tree, ``.git`` included) or a bundle's trusted keys."""
    if isinstance(source, BundleSource):
        refuse_foreign_source(source.trusted_keys, "the trusted keys")
    else:
        path = Path(source.inventory if isinstance(source, GitSource) else source.path).absolute()
        if path.suffix not in (".yaml", ".yml"):  # -i FOLDER
            path = path / "inventory.yaml"
        refuse_foreign_source(work_tree(path), "the checkout")


def _run_bundle(source: BundleSource, run: _Run) -> ConvergeResult:
    """Verify the bundle in memory, then unpack it to a private temporary
    folder in the state folder and converge from there."""
    verified = verify_bundle(
        read_bundle(source.path),
        load_trusted_keys(source.trusted_keys),
        last=last_revision(run.last),
        source=str(source.path),
    )
    with tempfile.TemporaryDirectory(prefix="bundle.", dir=run.paths.state_dir) as folder:
        inventory = load_inventory(unpack(verified, Path(folder)))
        return _run(inventory, run, revision=verified.revision)


def _run_git(source: GitSource, run: _Run) -> ConvergeResult:
    """Fetch and resolve the ref, refuse an older revision, then converge
    from the ref's tree exported to a private temporary folder."""
    top, inventory_path, revision = resolve(source)
    refusal = older_revision(revision, last_revision(run.last))
    if refusal is not None:
        return ConvergeResult(ExitCode.ERROR, refusal, revision=revision)
    with tempfile.TemporaryDirectory(prefix="ref.", dir=run.paths.state_dir) as folder:
        export(top, revision.commit, Path(folder))
        return _run(load_inventory(Path(folder) / inventory_path), run, revision=revision)


def _run(inventory: Inventory, run: _Run, revision: Revision | None = None) -> ConvergeResult:
    if revision is None:
        revision = repo_revision(inventory.path.parent)
    if revision is not None:
        refusal = older_revision(revision, last_revision(run.last))
        if refusal is not None:
            return ConvergeResult(ExitCode.ERROR, refusal, revision=revision)
    host = _local(inventory.host(run.host_name))
    renderer = Renderer(inventory)
    # converge runs on the host it manages: its own machine is the point
    plan = plan_fleet(
        inventory,
        [host],
        connector=_LocalOnly(),
        renderer=renderer,
        access=Access(local_hosts=True),
    )
    planned = plan.hosts[0]
    if planned.action is Action.ERROR:
        return ConvergeResult(
            ExitCode.ERROR,
            "cannot plan: " + "; ".join(planned.errors),
            plan=planned,
            revision=revision,
            repo_sha256=plan.repo_sha256,
        )
    if planned.action is Action.NONE:
        return ConvergeResult(
            ExitCode.OK,
            "nothing to do",
            plan=planned,
            revision=revision,
            repo_sha256=plan.repo_sha256,
        )
    label = revision.commit if revision is not None else f"sha256:{plan.repo_sha256 or ''}"
    moment = run.now()
    held = hold(
        inventory.rollout,
        host.name,
        planned.action,
        revision=label,
        first_seen=first_seen(run.paths, label, moment),
        now=moment,
    )
    if held is not None:
        return ConvergeResult(
            ExitCode.OK,
            held.message,
            plan=planned,
            revision=revision,
            repo_sha256=plan.repo_sha256,
            held=True,
            restart_pending=held.restart_pending,
        )
    target = host.target()

    def connect(name: str) -> Transport:
        return LocalTransport(target if isinstance(target, LocalTarget) else LocalTarget(name))

    report = apply_plan(
        plan,
        RunEnv(
            connect=connect,
            service_for=lambda name: host.service,
            on_event=run.on_event,
            mask=renderer.mask,
            user=run.user,
        ),
        targets=RenderedTargets(inventory, renderer),
        options=ApplyOptions(),
    )
    code, message = _exit_code(report)
    return ConvergeResult(
        code,
        message,
        plan=planned,
        report=report,
        revision=revision,
        repo_sha256=plan.repo_sha256,
    )
