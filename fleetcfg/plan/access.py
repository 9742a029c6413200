"""How plan, apply, rollback and status reach a host, and what the operator
allows them to reach.

The inventory is the repo under review (DESIGN.md, Trust model): it chooses
hosts, addresses and SSH settings, but three things are the operator's to
allow, on the command line of one run, never in the repo:

* ``--accept-new-host-keys``: record keys known_hosts does not list yet;
* ``--trust-repo-ssh-config``: an ssh_config file the inventory names may
  run commands (:mod:`fleetcfg.host.transport.repo_ssh_config`);
* ``--allow-local-hosts``: hosts with ``connection: local`` are this machine,
  the one fleetcfg runs on. Planning one reads this machine's Docker files
  (daemon.json, the proxy drop-in, certs.d, the ``~/.docker/config.json`` of
  each user the repo lists in ``client_users``) and prints their diffs;
  applying one rewrites them and restarts this machine's dockerd. A pull
  request that adds ``connection: local`` to a host would otherwise show the
  CI runner's Docker configuration in its plan. Without the flag such a host
  is refused before anything is read, and the rest of the fleet is planned.

``converge`` (run on the host itself, as root, from the operator's bundle or
checkout) manages its own machine by definition and allows local hosts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from fleetcfg.core.errors import TransportError
from fleetcfg.host.transport.base import Transport
from fleetcfg.host.transport.local import LocalTransport
from fleetcfg.host.transport.repo_ssh_config import refuse_repo_ssh_config_commands
from fleetcfg.host.transport.targets import SshTarget
from fleetcfg.inventory import Host

__all__ = ["ALLOW_LOCAL_HOSTS", "DEFAULT_ACCESS", "Access", "Connector", "open_transport"]

ALLOW_LOCAL_HOSTS = "--allow-local-hosts"


class Connector(Protocol):
    """What opens SSH transports (``fleetcfg.host.transport.ssh.SshConnector``)."""

    def open(self, target: SshTarget) -> Transport: ...


@dataclass(frozen=True)
class Access:
    """What the operator allowed for this run (see the module docstring)."""

    accept_new_host_keys: bool = False
    trust_repo_ssh_config: bool = False
    local_hosts: bool = False


#: nothing allowed beyond what the inventory may choose (the default)
DEFAULT_ACCESS = Access()


def _refuse_local(host: Host) -> TransportError:
    origin = host.origin(("connection",))
    where = origin.location if origin is not None else None
    return TransportError(
        "local is this machine, the one fleetcfg runs on (plan would read its Docker "
        "files, apply would change them): refused unless the operator allows it",
        file=where.file if where is not None else None,
        line=where.line if where is not None else None,
        host=host.name,
        key="connection",
        hint=f"pass {ALLOW_LOCAL_HOSTS} to manage this machine, or leave the host out "
        f"with --limit '!{host.name}'",
    )


def open_transport(
    host: Host,
    connector: Connector,
    *,
    repo_root: Path,
    access: Access = DEFAULT_ACCESS,
) -> Transport:
    """A transport to ``host``, within what ``access`` allows: a local host
    only with ``access.local_hosts``; an ssh_config file that the inventory
    (at ``repo_root``) names and that would run commands only with
    ``access.trust_repo_ssh_config``. A refusal raises TransportError before
    anything is read or run."""
    target = host.target()
    if isinstance(target, SshTarget):
        if not access.trust_repo_ssh_config:
            refuse_repo_ssh_config_commands(target, repo_root)
        if access.accept_new_host_keys:
            target = replace(target, accept_new_host_keys=True)
        return connector.open(target)
    if not access.local_hosts:
        raise _refuse_local(host)
    return LocalTransport(target)
