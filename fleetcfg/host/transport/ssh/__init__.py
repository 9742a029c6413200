"""SSH transport on paramiko (this package is the only part of fleetcfg that
imports it).

One :class:`SshConnector` per run holds what hosts share: parsed ssh_config
files, loaded private keys, parsed known_hosts files and the connections to
jump hosts (one per bastion chain, not one per target). Each
:class:`SshTransport` keeps one connection to its host and reuses it for every
call; every operation is one exec round trip (no sftp).

Connecting: TCP (or ProxyCommand, or a ``direct-tcpip`` channel through the
jump hosts), banner, key exchange preferring the key types known_hosts lists,
host key verification, then public key authentication with the identity files
(parsed once per run), ssh-agent keys, or ``~/.ssh/id_*``.

Modules: ``connector`` (the shared state and connecting), ``openings`` (the
connections being opened, cancelled at once on Ctrl-C), ``dial`` (TCP),
``hostkeys`` (negotiation and verification), ``auth`` (keys and agent),
``transport`` (one host's transport), ``channel`` (one command on a channel,
timeouts), ``common`` (paramiko's failures as messages).
"""

from __future__ import annotations

import logging

from fleetcfg.host.transport.ssh.connector import SshConnector, ssh_config_lookup
from fleetcfg.host.transport.ssh.transport import SshTransport

# paramiko logs failures (e.g. "channel open FAILED") that fleetcfg reports as
# errors itself; without a handler Python would print them to stderr
logging.getLogger("paramiko").addHandler(logging.NullHandler())

__all__ = ["SshConnector", "SshTransport", "ssh_config_lookup"]
