"""The test fleet: real sshd processes on loopback addresses, each pretending to
be a Docker host managed by systemd.

Each host is ``/usr/sbin/sshd`` on ``127.0.X.N:22`` in its own mount namespace
where ``/etc/docker``, ``/etc/systemd/system/docker.service.d``,
``/etc/buildkit``, ``/root``, ``/home`` and ``/usr/local/sbin`` are the host's
own folders (``<fleet>/hosts/<name>/{etc-docker,etc-docker-service-d,
etc-buildkit,root,home,sbin}`` on the real machine); everything else is the
real machine's, shared by all hosts.
``/usr/local/sbin`` holds bash shims (``dockerd``, ``docker``, ``systemctl``,
``journalctl``) that behave like a systemd-managed dockerd; ``dockerd
--validate`` and every start/reload run Debian's real dockerd 26.1.5
(``$FLEETCFG_DOCKERD_DIR``, default ``/var/cache/fleetcfg/docker.io``).

Python API::

    from tests.fleet import Fleet

    with Fleet.start(n=3, address_block="127.0.10") as fleet:  # stop() on exit
        fleet.hosts                  # [FleetHost]: .name "host-01", .address, .port, .user
        fleet.ssh_config, fleet.known_hosts, fleet.identity_file   # Paths
        host = fleet.hosts[0]        # or fleet["host-01"]
        host.ssh("systemctl is-active docker")         # system ssh client, -F ssh_config
        host.path("/etc/docker/daemon.json")           # host-side Path of a host file
        host.write_file("/etc/docker/daemon.json", "{}\\n", mode=0o644)
        host.read_file("/etc/docker/daemon.json")
        # settings
        host.set_engine_version("20.10.24")            # < 23.0: --validate is unknown
        host.set_exec_start(["-H", "fd://", "--debug"])  # an override.conf drop-in
        host.set_containers(3, restart_always=False)
        host.set_unit_state("failed")                  # direct, for test setup
        host.set_drop_in("http-proxy.conf", "[Service]\\n...")
        # faults (host.clear_faults() undoes them all)
        host.fault_slow_restart(2.0)
        host.fault_refuse_next_config()                # starts fail unless daemon.json is
                                                       # the one running now
        host.fault_refuse_config_with_key("bip")
        host.fault_unreachable()                       # refused; open connections cut
        host.fault_unreachable_after(3)                # 3 more sessions, then gone
        host.restore_reachable()
        host.drop_connections()                        # cut open connections only
        host.fault_disk_full(free_bytes=0)             # /etc/docker: tmpfs + ballast
        host.restore_disk()
        host.regenerate_host_key(update_known_hosts=False)
        host.set_authorized_keys([])                   # every login: Permission denied
        # observations
        host.unit_state()            # "active" | "failed" | "inactive" | "activating"
        host.events("started")       # [Event(time, kind, data)], data["sha256"] ...
        host.journal(), host.journal_text(), host.commands(), host.containers()
        host.running_config(), host.running_config_sha256(), host.started_config_sha256()
        host.reset()                 # one host back to the defaults
        fleet.reset()                # every host back to the defaults (cheap)
        fleet.add_hosts(2); fleet.view(2)

A host's defaults: /etc/docker and /root empty, /home/deploy and /home/nopriv
empty, docker.service active and enabled with ExecStart ``/usr/bin/dockerd -H
fd:// --containerd=/run/containerd/containerd.sock``, engine 26.1.5, two running
``restart=always`` containers, live-restore off, no faults, empty event log.

Limits worth knowing:

- Validation at ``--validate``, start and reload is Debian's dockerd 26.1.5
  whatever engine version a host reports: keys added in 27/28 are unknown to
  it, keys removed after 20.10 are not accepted for a "20.10" host.
- Hosts past the 254th continue in the next third octet (127.0.31.x after
  127.0.30.254); the pytest plugin keeps a worker's fleet within one block.
- The fleet folder itself is visible inside the hosts (same path); keep it
  outside /root, /home, /etc/docker and /usr/local/sbin.
- While the disk is full, ``ls -a /etc/docker`` shows ``.fleet-ballast``.
- ``fault_unreachable_after`` stops the listener only when the session that
  trips it is root's; a non-root session is cut and so is every later
  non-root login, until a root login (or ``restore_reachable``).

Users: ``root`` (the default), ``deploy`` (passwordless sudo) and ``nopriv``
(sudo needs a password, so ``sudo -n`` fails at once) all log in with the
fleet's client key (``ssh -l deploy``). Every session's PATH starts with the
host's /usr/local/sbin (sshd ``SetEnv``); sudo's ``secure_path`` on Debian
starts with it too, so the shims answer for ``sudo -n systemctl ...`` as well.
Interactive login shells of non-root users get Debian's /etc/profile PATH,
which has no /usr/local/sbin. Non-root users get systemd's "Interactive
authentication required." for state-changing systemctl verbs and docker's
"permission denied" on the socket, like on a real host.

Every SSH session goes through sshd's ``ForceCommand`` (``.fleet/session``),
which logs it (``host.commands()``) and implements ``fault_unreachable_after``;
sftp sessions run ``/usr/lib/openssh/sftp-server``.

pytest (``tests.fleet.pytest_plugin``): ``fleet`` (function scope, every host
reset, ``FLEETCFG_FLEET_HOSTS`` hosts, default 3), ``fleet_of(n)`` (a reset
fleet of n hosts), ``fleet_session`` (the per-worker session fleet, not reset).

Command line::

    python -m tests.fleet start --hosts 100 --dir DIR [--block 127.0.30] [--json]
    python -m tests.fleet status --dir DIR
    python -m tests.fleet stop --dir DIR
"""

from tests.fleet.errors import FleetError
from tests.fleet.fleet import Fleet, wait_until
from tests.fleet.host import Container, FleetHost
from tests.fleet.records import CommandRecord, Event, JournalEntry
from tests.fleet.registry import BlockBusyError

__all__ = [
    "BlockBusyError",
    "CommandRecord",
    "Container",
    "Event",
    "Fleet",
    "FleetError",
    "FleetHost",
    "JournalEntry",
    "wait_until",
]
