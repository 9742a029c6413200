"""``fleetcfg converge``: run on a host by itself (a systemd timer) to apply its
own configuration from a local checkout of the repo (pull mode).

Exit codes (like Puppet's --detailed-exitcodes): 0 nothing to do, 2 changed,
1 failed (rolled back where anything was written) or refused, 4 disabled or
another run holds the lock."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fleetcfg.apply.converge import BundleSource, converge, refuse_foreign
from fleetcfg.apply.rollout import ApplyEvent
from fleetcfg.cli.common import InventoryOption
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.output import print_error, stderr_console
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.core.exitcodes import ExitCode
from fleetcfg.host.bundle import DEFAULT_TRUSTED_KEYS
from fleetcfg.host.git_source import GitSource
from fleetcfg.host.pull import (
    DEFAULT_TEXTFILE_DIR,
    SYSTEMD_DIR,
    UNIT_NAME,
    PullPaths,
    disable,
    enable,
    install_units,
    timer_units,
)
from fleetcfg.host.state import STATE_DIR
from fleetcfg.inventory import DEFAULT_INVENTORY, Inventory, load_inventory


def _who() -> str:
    """The person behind the command (sudo keeps the caller in SUDO_USER)."""
    try:
        base = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid)
        base = str(os.getuid())
    caller = os.environ.get("SUDO_USER")
    return f"{caller} (as {base})" if caller and caller != base else base


def _host_name(as_host: str | None) -> str:
    return as_host or socket.gethostname().split(".")[0]


def _echo(text: str) -> None:
    stderr_console().print(escape(text), highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("converge")
    @exits_on_error
    def converge_cmd(
        *,
        inventory_path: InventoryOption = DEFAULT_INVENTORY,
        as_host: Annotated[
            str | None,
            typer.Option("--as", help="this host's inventory name (default: the short host name)"),
        ] = None,
        disable_reason: Annotated[
            str | None,
            typer.Option(
                "--disable",
                help="stop converging on this host, recording who and why",
                metavar="REASON",
            ),
        ] = None,
        enable_: Annotated[bool, typer.Option("--enable", help="remove the disable file")] = False,
        bundle: Annotated[
            Path | None,
            typer.Option(
                "--bundle",
                help="converge from this file made by `fleetcfg bundle` (verified before "
                "anything is unpacked) instead of -i",
                metavar="FILE",
            ),
        ] = None,
        ref: Annotated[
            str | None,
            typer.Option(
                "--ref",
                help="converge from this git ref (origin/main, a tag) of the checkout -i is in: "
                "git fetch, then its tree, without touching the working tree",
                metavar="REF",
            ),
        ] = None,
        fetch: Annotated[
            bool, typer.Option("--fetch/--no-fetch", help="--ref: git fetch first")
        ] = True,
        trusted_keys: Annotated[
            Path,
            typer.Option(
                "--trusted-keys",
                help="--bundle: the ssh-ed25519 public keys whose signature this host accepts",
                metavar="FILE",
            ),
        ] = Path(DEFAULT_TRUSTED_KEYS),
        textfile_dir: Annotated[
            Path,
            typer.Option(
                "--textfile-dir", help="where fleetcfg.prom goes (node-exporter's textfile dir)"
            ),
        ] = Path(DEFAULT_TEXTFILE_DIR),
        state_dir: Annotated[
            Path, typer.Option("--state-dir", hidden=True, help="converge's state folder")
        ] = Path(STATE_DIR),
        install_timer: Annotated[
            bool,
            typer.Option(
                "--install-timer",
                help=f"write {UNIT_NAME}.service and .timer running this command, then exit",
            ),
        ] = False,
        systemd_dir: Annotated[
            Path, typer.Option("--systemd-dir", help="where --install-timer writes the units")
        ] = Path(SYSTEMD_DIR),
        interval: Annotated[
            str, typer.Option("--interval", help="--install-timer: time between runs")
        ] = "30min",
        randomized_delay: Annotated[
            str,
            typer.Option(
                "--randomized-delay",
                help="--install-timer: RandomizedDelaySec (a stable offset per host)",
            ),
        ] = "15min",
    ) -> None:
        """Apply this host's configuration from a local checkout, through the same
        pipeline as `fleetcfg apply` (validate, backup, atomic replace, reload or
        restart, health gate, rollback).

        Exit codes: 0 nothing to do; 2 changed; 1 failed (rolled back) or refused
        (an older revision than the last applied); 4 disabled or locked."""
        paths = PullPaths(state_dir=state_dir, textfile_dir=textfile_dir)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if disable_reason is not None and enable_:
            raise UsageError("--disable and --enable exclude each other")
        if disable_reason is not None:
            record = disable(paths, disable_reason, by=_who(), at=now)
            _echo(f"converge {record.describe()}")
            return
        if enable_:
            was = enable(paths)
            _echo(
                f"converge enabled (it was {was.describe()})"
                if was
                else "converge was not disabled"
            )
            return
        host = _host_name(as_host)
        source: BundleSource | GitSource | Inventory
        if bundle is not None and ref is not None:
            raise UsageError("--bundle and --ref exclude each other")
        if ref is not None:
            # the working tree is not read: the ref's inventory is the one that counts
            source = GitSource(Path(inventory_path).absolute(), ref, fetch=fetch)
            where = ["-i", str(source.inventory), "--ref", ref]
            where += [] if fetch else ["--no-fetch"]
        elif bundle is not None:
            source = BundleSource(bundle.absolute(), trusted_keys.absolute())
            where = ["--bundle", str(source.path), "--trusted-keys", str(source.trusted_keys)]
        else:
            source = load_inventory(inventory_path)
            source.host(host)  # an unknown host is a usage error
            where = ["-i", str(source.path.absolute())]
        if install_timer:
            refuse_foreign(source)  # every run would refuse it: say so now
            argv = [
                str(Path(sys.argv[0]).absolute()),
                "converge",
                *where,
                "--as",
                host,
                "--textfile-dir",
                str(textfile_dir),
            ]
            written = install_units(
                timer_units(argv, interval=interval, randomized_delay=randomized_delay),
                systemd_dir,
            )
            for path in written:
                _echo(f"wrote {path}")
            _echo(f"now: systemctl daemon-reload && systemctl enable --now {UNIT_NAME}.timer")
            return

        def progress(event: ApplyEvent) -> None:
            if event.kind == "step" and event.step is not None:
                detail = f": {event.step.detail}" if event.step.detail else ""
                _echo(f"  {event.step.step} {event.step.status.value}{detail}")

        result = converge(source, host, paths=paths, user=_who(), on_event=progress)
        label = result.revision_label
        revision = f" (revision {label[:19]})" if label else ""
        text = f"{host}: {result.message}{revision}"
        if result.exit_code == ExitCode.ERROR:
            print_error(FleetcfgError(text))
        else:
            _echo(text)
        raise typer.Exit(result.exit_code)
