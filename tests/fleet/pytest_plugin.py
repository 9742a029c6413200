"""pytest plugin: a fleet per xdist worker, reset between tests.

Fixtures:

- ``fleet_session`` (session): the worker's fleet, started on first use and
  stopped at the end of the session (also when tests fail). Address blocks:
  ``127.0.10.x`` for a run without xdist, ``127.0.11.x`` for gw0,
  ``127.0.12.x`` for gw1, ... (``FLEETCFG_FLEET_BLOCK`` moves the base, default
  10). A block held by another live run is skipped for one 40 octets further.
- ``fleet`` (function): the first ``FLEETCFG_FLEET_HOSTS`` hosts (default 3),
  every one reset to the clean default state before the test.
- ``fleet_of`` (function): ``fleet_of(n)`` grows the worker's fleet to at
  least n hosts (at most 254) and returns its first n hosts, reset.
- ``real_fleet`` (function): the worker's real-daemon fleet
  (``FLEETCFG_REAL_HOSTS`` hosts, default 3, started on first use; block
  ``FLEETCFG_FLEET_BLOCK`` + 9 without xdist, + 8 for gw0, + 7 for gw1), every host reset: no daemon.json, dockerd active
  (restarted only when its config or flags changed), no containers. Each
  xdist worker that runs a real-daemon test starts its own (pytest-xdist's
  ``--dist loadgroup`` would keep them on one worker, but it schedules every
  other test module by module, which made the whole suite slower).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.fleet.errors import FleetError
from tests.fleet.fleet import Fleet
from tests.fleet.registry import HOSTS_PER_BLOCK, BlockBusyError

DEFAULT_HOSTS = 3
DEFAULT_REAL_HOSTS = 3
#: the real fleet's block, above the workers' (base + 1 + worker number)
REAL_BLOCK_OFFSET = 9
_FALLBACK_STEP = 40


def default_hosts() -> int:
    return int(os.environ.get("FLEETCFG_FLEET_HOSTS", str(DEFAULT_HOSTS)))


def worker_octet(worker_id: str) -> int:
    """The third octet of a worker's address block (master 10, gw0 11, gw1 12...)."""
    base = int(os.environ.get("FLEETCFG_FLEET_BLOCK", "10"))
    if not worker_id.startswith("gw"):
        return base
    return base + 1 + int(worker_id[2:])


def start_worker_fleet(worker_id: str, n: int, *, real: bool = False) -> Fleet:
    octet = worker_octet(worker_id)
    if real:
        octet = worker_octet("master") + REAL_BLOCK_OFFSET - (octet - worker_octet("master"))
    last_error: BlockBusyError | None = None
    for attempt in range(4):
        third = octet + attempt * _FALLBACK_STEP
        if third > 255:
            break
        try:
            return Fleet.start(n, address_block=f"127.0.{third}", real=real)
        except BlockBusyError as exc:
            last_error = exc
    raise FleetError(f"no free address block for pytest worker {worker_id}: {last_error}")


@pytest.fixture(scope="session")
def fleet_session() -> Iterator[Fleet]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "master")
    fleet = start_worker_fleet(worker, default_hosts())
    try:
        yield fleet
    finally:
        fleet.stop()


def _sized(fleet: Fleet, n: int) -> Fleet:
    if n > HOSTS_PER_BLOCK:
        raise FleetError(
            f"a test fleet has at most {HOSTS_PER_BLOCK} hosts per worker (asked for {n}); "
            "start a Fleet of your own on another block for more"
        )
    if len(fleet) < n:
        fleet.add_hosts(n - len(fleet))
    view = fleet.view(n)
    view.reset()
    return view


@pytest.fixture
def fleet(fleet_session: Fleet) -> Fleet:
    return _sized(fleet_session, default_hosts())


@pytest.fixture
def fleet_of(fleet_session: Fleet) -> Callable[[int], Fleet]:
    return lambda n: _sized(fleet_session, n)


@pytest.fixture(scope="session")
def real_fleet_session() -> Iterator[Fleet]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "master")
    n = int(os.environ.get("FLEETCFG_REAL_HOSTS", str(DEFAULT_REAL_HOSTS)))
    fleet = start_worker_fleet(worker, n, real=True)
    try:
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def real_fleet(real_fleet_session: Fleet) -> Fleet:
    real_fleet_session.reset()
    return real_fleet_session
