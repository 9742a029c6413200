"""A fleet of fleet hosts: start, grow, reset, stop; the client-side files."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from tests.fleet import config, mounts, procs, registry, system
from tests.fleet.errors import FleetError
from tests.fleet.host import FleetHost
from tests.fleet.keys import generate_ed25519

_RUNNING: list[Fleet] = []


class Fleet:
    """Real sshd hosts on loopback addresses. Start one with :meth:`start` (or
    use it as a context manager); ``fleet.hosts`` are :class:`FleetHost`."""

    def __init__(
        self,
        *,
        base_dir: Path,
        address_block: str,
        engine_version: str = config.DEFAULT_ENGINE_VERSION,
        dockerd_dir: Path | None = None,
        keep_dir: bool = False,
        engine_dir: Path | None = None,
    ) -> None:
        self.base_dir = base_dir
        #: set for a real-daemon fleet: the unpacked engine (scripts/fetch-dockerd --engine)
        self.engine_dir = engine_dir
        self.address_block = address_block
        self.engine_version = engine_version
        self.dockerd_dir = dockerd_dir or system.dockerd_dir()
        self.keep_dir = keep_dir
        self._all: list[FleetHost] = []
        self._view: list[FleetHost] | None = None
        self._root: Fleet = self
        self._lease: registry.Lease | None = None
        self._owner_pid: int | None = None
        self._stopped = False

    # ------------------------------------------------------------- creation
    @classmethod
    def start(
        cls,
        n: int = 3,
        *,
        base_dir: Path | str | None = None,
        address_block: str = "127.0.10",
        engine_version: str = config.DEFAULT_ENGINE_VERSION,
        detach: bool = False,
        real: bool = False,
    ) -> Fleet:
        """Start ``n`` hosts. A stale fleet left on the same addresses is
        stopped first. ``detach``: the fleet outlives this process (stop it with
        :meth:`attach` + :meth:`stop`, or ``python -m tests.fleet stop``).
        ``real``: every host runs Debian's real containerd + dockerd 26.1.5
        (see tests/fleet/engine.py) instead of the shell stand-ins."""
        if n < 1:
            raise FleetError("a fleet needs at least one host")
        system.prepare_machine()
        engine_dir = system.check_engine() if real else None
        lease = registry.Lease()
        lease.acquire(registry.blocks_for(address_block, n))
        try:
            registry.cleanup_stale(lease.blocks)
            base, keep = _make_base_dir(base_dir, address_block)
            fleet = cls(
                base_dir=base,
                address_block=address_block,
                engine_version=engine_version,
                keep_dir=keep,
                engine_dir=engine_dir,
            )
            fleet._lease = lease
            fleet._owner_pid = None if detach else os.getpid()
            try:
                fleet._create(n)
            except BaseException:
                registry.teardown_dir(base, keep_dir=keep)
                raise
        except BaseException:
            lease.release()
            raise
        if detach:
            lease.release()
            fleet._lease = None
        else:
            _RUNNING.append(fleet)
        return fleet

    @classmethod
    def attach(cls, base_dir: Path | str) -> Fleet:
        """The fleet running in ``base_dir`` (started by another process)."""
        base = Path(base_dir)
        try:
            meta = json.loads((base / "fleet.json").read_text())
        except FileNotFoundError:
            raise FleetError(f"no fleet in {base} (fleet.json is missing)") from None
        fleet = cls(
            base_dir=base,
            address_block=meta["address_block"],
            engine_version=meta["engine_version"],
            dockerd_dir=Path(meta["dockerd_dir"]),
            keep_dir=bool(meta.get("keep_dir")),
            engine_dir=Path(meta["engine_dir"]) if meta.get("engine_dir") else None,
        )
        for item in meta["hosts"]:
            host = FleetHost(
                fleet,
                index=item["index"],
                name=item["name"],
                address=item["address"],
                port=item["port"],
            )
            host._load_settings()
            fleet._all.append(host)
        return fleet

    def _create(self, n: int) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base_dir, 0o755)
        hosts_root = self.base_dir / "hosts"
        hosts_root.mkdir(exist_ok=True)
        mounts.make_shared_bind(hosts_root)
        client = self.base_dir / "client"
        client.mkdir(mode=0o700, exist_ok=True)
        pair = generate_ed25519("fleetcfg-test-fleet-client")
        self.identity_file.write_bytes(pair.private_openssh)
        self.identity_file.chmod(0o600)
        self.identity_file.with_suffix(".pub").write_text(pair.public_line + "\n")
        self.authorized_keys.write_text(pair.public_line + "\n")
        self.authorized_keys.chmod(0o644)
        self._write_meta()
        self.add_hosts(n)

    def add_hosts(self, count: int) -> list[FleetHost]:
        """Start ``count`` more hosts (concurrently) and add them to the files."""
        root = self._root
        first = len(root._all)
        if root._lease is not None:
            blocks = registry.blocks_for(root.address_block, first + count)
            new_blocks = [b for b in blocks if b not in root._lease.blocks]
            if new_blocks:
                root._lease.acquire(new_blocks)
                registry.cleanup_stale(new_blocks)
                registry.register(new_blocks, root.base_dir, owner_pid=root._owner_pid)
        new = [
            FleetHost(
                root,
                index=i,
                name=f"host-{i + 1:02d}",
                address=registry.address(root.address_block, i),
            )
            for i in range(first, first + count)
        ]
        for host in new:
            host._prepare(host_key=generate_ed25519(f"root@{host.name}"))
        for host in new:
            host._start_listener()
        root._all.extend(new)
        root._write_meta()
        with ThreadPoolExecutor(max_workers=max(1, min(32, count))) as pool:
            list(pool.map(lambda h: h._wait_listening(), new))
            if root.engine_dir is not None:
                list(pool.map(lambda h: h._engine_reset(), new))
        root.write_client_files()
        if root._lease is not None and first == 0:
            registry.register(root._lease.blocks, root.base_dir, owner_pid=root._owner_pid)
        return new

    # -------------------------------------------------------------- access
    @property
    def hosts(self) -> list[FleetHost]:
        return list(self._view if self._view is not None else self._root._all)

    def host(self, name: str) -> FleetHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise FleetError(f"no host {name!r} in the fleet ({len(self.hosts)} hosts)")

    def __getitem__(self, key: int | str) -> FleetHost:
        return self.host(key) if isinstance(key, str) else self.hosts[key]

    def __iter__(self) -> Iterator[FleetHost]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __repr__(self) -> str:
        return f"Fleet({len(self)} hosts, block {self.address_block}, {self.base_dir})"

    def view(self, n: int) -> Fleet:
        """The first ``n`` hosts as a fleet of their own (same files; not stoppable)."""
        if n > len(self._root._all):
            raise FleetError(f"the fleet has {len(self._root._all)} hosts, not {n}")
        view = Fleet.__new__(Fleet)
        view.__dict__.update(self._root.__dict__)
        view._view = self._root._all[:n]
        view._root = self._root
        return view

    @property
    def owned_here(self) -> bool:
        """True when this process owns the fleet (its sshds are our children)."""
        return self._root._owner_pid == os.getpid()

    @property
    def identity_file(self) -> Path:
        """The client's private key (ed25519, no passphrase)."""
        return self.base_dir / "client" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.base_dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        """``ssh -F <ssh_config> host-01 true`` works (StrictHostKeyChecking yes)."""
        return self.base_dir / "ssh_config"

    @property
    def authorized_keys(self) -> Path:
        """The keys every host accepts after a reset (each host has its copy,
        see :meth:`FleetHost.set_authorized_keys`)."""
        return self.base_dir / "authorized_keys"

    def write_client_files(self) -> None:
        """(Re)write ssh_config and known_hosts from the hosts' current keys."""
        root = self._root
        entries = [config.ClientEntry(h.name, h.address, h.port, h.public_key) for h in root._all]
        _write(root.known_hosts, config.render_known_hosts(entries))
        _write(
            root.ssh_config,
            config.render_ssh_config(
                entries, identity_file=root.identity_file, known_hosts=root.known_hosts
            ),
        )

    def _write_meta(self) -> None:
        meta = {
            "address_block": self.address_block,
            "engine_version": self.engine_version,
            "dockerd_dir": str(self.dockerd_dir),
            "engine_dir": str(self.engine_dir) if self.engine_dir else None,
            "keep_dir": self.keep_dir,
            "owner_pid": self._owner_pid,
            "hosts": [
                {"index": h.index, "name": h.name, "address": h.address, "port": h.port}
                for h in self._all
            ],
        }
        _write(self.base_dir / "fleet.json", json.dumps(meta, indent=2) + "\n")

    def describe(self) -> dict[str, object]:
        """Where everything is (what ``python -m tests.fleet start --json`` prints)."""
        return {
            "dir": str(self.base_dir),
            "address_block": self.address_block,
            "ssh_config": str(self.ssh_config),
            "known_hosts": str(self.known_hosts),
            "identity_file": str(self.identity_file),
            "user": "root",
            "hosts": [{"name": h.name, "address": h.address, "port": h.port} for h in self.hosts],
        }

    # ------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        """Every host of this fleet (or view) back to the clean default state."""
        hosts = self.hosts
        found = procs.host_processes(self._root.base_dir / "hosts")
        procs.kill_all(p.pid for h in hosts for p in found.get(h.dir, []) if not p.is_listener)
        for host in hosts:
            host._reset(kill_sessions=False)
        self.write_client_files()

    def is_running(self) -> bool:
        return not self._root._stopped and any(h.is_listening() for h in self._root._all)

    def stop(self) -> None:
        """Kill every process of every host, unmount, delete the fleet's files."""
        if self._root is not self:
            raise FleetError("stop the whole fleet, not a view of it")
        if self._stopped:
            return
        for host in self._all:
            proc, host._proc = host._proc, None
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=10)
        registry.kill_engines(self.base_dir / "hosts")
        for host in self._all:
            engine, host._engine = host._engine, None
            if engine is not None:
                with contextlib.suppress(Exception):
                    engine.wait(timeout=10)
        registry.teardown_dir(self.base_dir, keep_dir=self.keep_dir)
        blocks = registry.blocks_for(self.address_block, max(1, len(self._all)))
        registry.unregister(blocks, self.base_dir)
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        self._stopped = True
        if self in _RUNNING:
            _RUNNING.remove(self)

    def stop_detached(self, *, wait: float = 30.0) -> None:
        """Stop a fleet attached from its folder (takes its blocks' locks first)."""
        lease = registry.Lease()
        lease.acquire(registry.blocks_for(self.address_block, max(1, len(self._all))), wait=wait)
        try:
            self._lease = lease
            self.stop()
        finally:
            lease.release()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    tmp.replace(path)


def _make_base_dir(base_dir: Path | str | None, block: str) -> tuple[Path, bool]:
    """The fleet's folder and whether it existed before (then it is kept at stop)."""
    if base_dir is None:
        return Path(tempfile.mkdtemp(prefix=f"fleetcfg-fleet-{block}-", dir="/tmp")), False
    base = Path(base_dir).absolute()
    for private in ("/root", "/home", "/etc/docker", "/usr/local/sbin"):
        if base == Path(private) or base.is_relative_to(private):
            raise FleetError(
                f"the fleet folder {base} must be outside {private} (each host has its own)"
            )
    if base.exists():
        if registry.is_fleet_dir(base):
            registry.teardown_dir(base)
        if base.exists() and any(base.iterdir()):
            raise FleetError(
                f"the fleet folder {base} exists and is not empty",
                hint="give an empty or new folder, or stop the fleet in it first",
            )
        return base, base.exists()
    base.mkdir(parents=True)
    return base, False


@atexit.register
def _stop_running_fleets() -> None:
    for fleet in list(_RUNNING):
        if fleet._owner_pid == os.getpid():
            with contextlib.suppress(Exception):
                fleet.stop()


def wait_until(predicate: object, *, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true (for tests of asynchronous effects)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
