"""Plan a fleet: connect, gather facts, render, plan; save and load plans.

This is the orchestration around the pure :mod:`fleetcfg.plan.decide`. Public API
(``fleetcfg apply`` builds on it):

``plan_fleet(inventory, hosts, *, connector, forks=None, on_host_done=None,
cancel=None, access=Access(), renderer=None) -> Plan``
    Plans every host with at most ``forks`` hosts at a time (default:
    :func:`fleetcfg.core.parallel.default_forks`), one connection
    per host (opened through ``connector``, one :class:`SshConnector` per
    run; hosts with ``connection: local`` use a :class:`LocalTransport` when
    ``access`` allows them, see :mod:`fleetcfg.plan.access`).
    A host that cannot be reached, authenticated or planned becomes a
    :class:`HostPlan` with ``action=error`` (``unreachable=True`` for
    connection failures); the rest of the fleet is planned. ``on_host_done``
    is called in the calling thread with each host's plan as it finishes.
    After Ctrl-C (or ``cancel``) the hosts not started yet, and those whose
    connection was still being opened (cancelled, see ``SshConnector.cancel_opening``),
    come back as errors ("not planned"), and ``cancel`` is set.

``plan_host(inventory, host, transport, *, renderer=None) -> PlannedHost``
    One host over an open transport: facts (one round trip), render (with
    the Engine version the host reports), the surface files (one more round
    trip, for hosts that have some), plan; for a restart of a running
    daemon, one more exec asks ``docker info`` how many containers it stops.
    ``PlannedHost.contents`` holds the exact bytes to write per path; apply calls this right before it
    touches a host and compares the result with the saved plan
    (:func:`fleetcfg.plan.decide.stale_reasons`). Transport errors propagate.

``save_plan(plan, path)`` / ``load_plan(path) -> Plan``
    The ``-o plan.json`` file: the Plan model as JSON (format_version,
    plan_id, repo_sha256, per host the live and target digest of every file:
    sha256, or for a file that holds credentials a keyed hmac-sha256
    (:mod:`fleetcfg.core.filedigest`), the action, the facts it depended
    on). No secret is stored in clear, nor a digest a guess can be checked
    against cheaply.
    ``load_plan`` refuses another format version.

The plan's ``repo_sha256`` and ``repo_files`` cover inventory.yaml,
profiles/ and every other repo file the renderer read for the planned hosts
(:mod:`fleetcfg.plan.repohash`).

Targets are rendered for the Engine version the host reports (``dockerd
--version``), not the inventory's ``engine_version`` (which lint uses); the
plan warns when the two disagree.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetcfg import __version__
from fleetcfg.core.boundedread import MIB, read_regular
from fleetcfg.core.errors import (
    ConnectCancelled,
    ConnectError,
    ConnectionLostError,
    FleetcfgError,
    PlanError,
    UsageError,
)
from fleetcfg.core.jsondoc import too_deep
from fleetcfg.core.parallel import Outcome, map_hosts
from fleetcfg.core.secrets import mask_text
from fleetcfg.host.transport.base import Transport
from fleetcfg.inventory import Host, Inventory
from fleetcfg.plan.access import DEFAULT_ACCESS, Access, Connector, open_transport
from fleetcfg.plan.decide import LintSettings, PlannedHost, failed_host, plan_from_facts
from fleetcfg.plan.facts import Facts, gather_daemon_info, gather_facts, gather_surface
from fleetcfg.plan.model import PLAN_FORMAT_VERSION, Action, HostPlan, Plan
from fleetcfg.plan.plugins import gather_plugins, plugin_driver_of
from fleetcfg.plan.repohash import combine, lookup_digests
from fleetcfg.plan.streams import plan_file_chunks
from fleetcfg.plan.surface import surface_paths
from fleetcfg.plan.targets import client_users, known_secrets, render_targets
from fleetcfg.render import Renderer

__all__ = [
    "load_plan",
    "plan_fleet",
    "plan_host",
    "read_plan_json",
    "save_plan",
]


# --------------------------------------------------------------------------
# one host


def lint_settings(inventory: Inventory) -> LintSettings:
    lint = inventory.lint
    return LintSettings(
        disable=frozenset(str(r) for r in lint.disable),
        severity={str(k): str(v) for k, v in lint.severity.items()},
    )


def plan_host(
    inventory: Inventory,
    host: Host,
    transport: Transport,
    *,
    renderer: Renderer | None = None,
) -> PlannedHost:
    """Plan one host over ``transport`` (see the module docstring)."""
    renderer = renderer or Renderer(inventory)
    lint = lint_settings(inventory)
    facts: Facts = gather_facts(transport, client_users(host))
    targets = render_targets(renderer, host, facts.engine)
    facts = gather_surface(transport, facts, surface_paths(targets.surface_result, facts))
    secrets = known_secrets(renderer)
    planned = plan_from_facts(host, facts, targets, secrets=secrets, lint=lint)
    running = facts.unit is None or facts.unit.active
    if planned.plan.action is Action.RESTART and facts.info is None and running:
        # how many containers the restart stops (docker info is slow: only now)
        facts = gather_daemon_info(transport, facts)
        planned = plan_from_facts(host, facts, targets, secrets=secrets, lint=lint)
    if plugin_driver_of(planned.contents.get(facts.daemon_json.path)) is not None:
        # the new daemon.json names a logging plugin: does the host have it?
        facts = gather_plugins(transport, facts, running=running)
        planned = plan_from_facts(host, facts, targets, secrets=secrets, lint=lint)
    return planned


# --------------------------------------------------------------------------
# the fleet


def unreachable(error: FleetcfgError) -> bool:
    """Whether ``error`` means the host could not be reached (counted apart
    from other errors in the summary)."""
    return isinstance(error, ConnectError | ConnectionLostError)


def _outcome_plan(outcome: Outcome[Host, HostPlan], renderer: Renderer) -> HostPlan:
    host = outcome.item
    if outcome.value is not None:
        return outcome.value
    if outcome.error is not None and not isinstance(outcome.error, ConnectCancelled):
        error = outcome.error
        plan = failed_host(host, error, unreachable=unreachable(error))
        secrets = known_secrets(renderer)
        return plan.model_copy(update={"errors": [mask_text(e, secrets) for e in plan.errors]})
    # not started, or its connection was still being opened (cancelled)
    return HostPlan(
        host=host.name,
        address=host.address,
        groups=list(host.groups),
        action=Action.ERROR,
        errors=["not planned: the run was interrupted"],
    )


def plan_fleet(
    inventory: Inventory,
    hosts: Sequence[Host],
    *,
    connector: Connector,
    forks: int | None = None,
    on_host_done: Callable[[HostPlan], None] | None = None,
    cancel: threading.Event | None = None,
    access: Access = DEFAULT_ACCESS,
    renderer: Renderer | None = None,
    shard: str | None = None,
    on_interrupt: Callable[[int], None] | None = None,
) -> Plan:
    """Plan ``hosts`` (see the module docstring); ``shard`` (``K/N``) is
    recorded in the plan when ``hosts`` is one shard of the selection.
    ``on_interrupt`` is called at the first Ctrl-C with the number of hosts
    in flight (a second one raises ``KeyboardInterrupt``)."""
    renderer = renderer or Renderer(inventory)

    def one(host: Host) -> HostPlan:
        transport = open_transport(
            host,
            connector,
            repo_root=inventory.root,
            access=access,
        )
        try:
            return plan_host(inventory, host, transport, renderer=renderer).plan
        finally:
            transport.close()

    def done(outcome: Outcome[Host, HostPlan]) -> None:
        if on_host_done is not None:
            on_host_done(_outcome_plan(outcome, renderer))

    outcomes = map_hosts(
        list(hosts), one, forks=forks, on_done=done, cancel=cancel, on_interrupt=on_interrupt
    )
    # the files the renders read: hashed once they are all known
    digests = lookup_digests(inventory, renderer.lookups)
    return Plan(
        fleetcfg_version=__version__,
        inventory=inventory.display,
        repo_sha256=combine(digests),
        repo_files=digests,
        shard=shard,
        hosts=[_outcome_plan(o, renderer) for o in outcomes],
    )


# --------------------------------------------------------------------------
# plan files


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write ``plan`` to ``path`` atomically (JSON; no secret in it)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise PlanError(
            f"cannot write the plan: {exc.strerror}", file=str(path), hint="check the folder"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for chunk in plan_file_chunks(plan):  # host by host: never one big string
                fh.write(chunk)
            fh.flush()
            os.fchmod(fh.fileno(), 0o600)  # hashes of documents that may hold credentials
            os.fsync(fh.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: the largest plan file or ``plan --format json`` output read (20,000 hosts
#: with diffs are some 60 MB)
PLAN_LIMIT = 256 * MIB
#: how deep a plan file's arrays and objects may nest (a plan nests a handful)
PLAN_DEPTH = 64


def read_plan_json(path: str | Path, *, what: str, hint: str) -> Any:
    """The decoded JSON of a plan file or a shard's ``plan --format json``
    output (``what`` names it in errors). Plan files are not trusted (a CI
    artifact, a file from elsewhere): read only when regular (never
    ``/dev/zero`` or a FIFO), of at most :data:`PLAN_LIMIT`, nesting at most
    :data:`PLAN_DEPTH` levels (decoding deeper JSON exhausts the stack)."""
    try:
        raw = read_regular(path, PLAN_LIMIT)
    except FileNotFoundError:
        raise UsageError(f"{what} not found", file=str(path)) from None
    except OSError as exc:
        raise UsageError(f"cannot read the {what}: {exc.strerror or exc}", file=str(path)) from None
    if too_deep(raw, PLAN_DEPTH):
        raise PlanError(
            f"not a {what}: its arrays and objects nest deeper than {PLAN_DEPTH} levels",
            file=str(path),
            hint=hint,
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanError(f"not a {what}: not UTF-8 (byte {exc.start})", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"not a {what} (invalid JSON: {exc.msg})",
            file=str(path),
            line=exc.lineno,
            column=exc.colno,
            hint=hint,
        ) from None


def load_plan(path: str | Path) -> Plan:
    """Read a plan written by :func:`save_plan`."""
    data = read_plan_json(path, what="plan file", hint="write one with fleetcfg plan -o FILE")
    if not isinstance(data, dict) or "format_version" not in data:
        raise PlanError(
            "not a plan file (no format_version)",
            file=str(path),
            hint="write one with fleetcfg plan -o FILE",
        )
    version = data.get("format_version")
    if version != PLAN_FORMAT_VERSION:
        raise PlanError(
            f"plan format {version} written by fleetcfg {data.get('fleetcfg_version', '?')}; "
            f"this fleetcfg ({__version__}) reads format {PLAN_FORMAT_VERSION}",
            file=str(path),
            hint="run fleetcfg plan again with this version",
        )
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanError(
            f"invalid plan file: {where}: {first['msg']}",
            file=str(path),
            hint="write it again with fleetcfg plan -o FILE",
        ) from None
