"""The run environment: what one run of a command uses, built once by the
command from its options and handed down (like httpie's ``Environment``):
the inventory path, the consoles (colour only on a terminal), ``--forks``,
what the operator allows (``--accept-new-host-keys``, ``--trust-repo-ssh-config``,
``--allow-local-hosts``), the SSH connector and the Ctrl-C event.

Tests replace :func:`make_connector` (hosts become fakes) or build a
:class:`CommandEnv` of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Console

from fleetcfg.cli import gcpolicy
from fleetcfg.cli.output import stderr_console, stdout_console
from fleetcfg.core.errors import UsageError
from fleetcfg.core.parallel import CancelEvent
from fleetcfg.host.transport.base import Transport
from fleetcfg.inventory import DEFAULT_INVENTORY, Host, Inventory, load_inventory
from fleetcfg.plan.access import Access, Connector, open_transport


def make_connector() -> Connector:
    """One SSH connector per run (tests replace this)."""
    from fleetcfg.host.transport.ssh import SshConnector

    return SshConnector()


@dataclass
class CommandEnv:
    """What one command run uses (see the module docstring)."""

    #: ``--inventory`` (None: the command's default, usually ./inventory.yaml)
    inventory_path: str | None = None
    #: ``--forks`` (None: map_hosts picks)
    forks: int | None = None
    #: what the operator allows (host keys, the repo's ssh_config, local hosts)
    access: Access = field(default_factory=Access)
    out: Console = field(default_factory=stdout_console)
    err: Console = field(default_factory=stderr_console)
    #: set on Ctrl-C: no new host is started, connections being opened are cancelled
    cancel: CancelEvent = field(default_factory=CancelEvent)

    def load_inventory(self, default: str = DEFAULT_INVENTORY) -> Inventory:
        inventory = load_inventory(self.inventory_path or default)
        gcpolicy.settle()  # the inventory lives as long as the run
        return inventory

    def select_hosts(self, inventory: Inventory, limit: Sequence[str] | None) -> list[Host]:
        """The hosts ``--limit`` selects (a usage error when none)."""
        hosts = inventory.select(list(limit) if limit else None)
        if not hosts:
            raise UsageError(
                f"--limit selects no host in {inventory.display}",
                hint="check the patterns (host names, group names, globs)",
            )
        return hosts

    def connector(self) -> Connector:
        """A new SSH connector for this run (close it at the end); Ctrl-C
        cancels the connections it is opening (``cancel_opening``)."""
        connector = make_connector()
        cancel_opening = getattr(connector, "cancel_opening", None)
        if callable(cancel_opening):
            self.cancel.on_set(cancel_opening)
        return connector

    def opener(self, inventory: Inventory, connector: Connector) -> Callable[[str], Transport]:
        """Opens the transport of an inventory host by name."""

        def open_host(name: str) -> Transport:
            return open_transport(
                inventory.host(name),
                connector,
                repo_root=inventory.root,
                access=self.access,
            )

        return open_host
