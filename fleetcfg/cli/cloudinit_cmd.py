"""``fleetcfg cloud-init --limit GROUP [-o FILE]``: a cloud-config document that
lands the group's files before dockerd first starts, and checks at the end of
the boot that dockerd runs with them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fleetcfg.cli.common import InventoryOption, LimitOption
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.output import stderr_console
from fleetcfg.cli.tree_cmd import load_tree, selection_text
from fleetcfg.core.atomicfile import write_atomic
from fleetcfg.core.errors import FleetcfgError, UsageError
from fleetcfg.inventory import DEFAULT_INVENTORY
from fleetcfg.plan.cloudinit import DEFAULT_CHECK_TIMEOUT, cloud_config, cloud_config_text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def register(app: typer.Typer) -> None:
    @app.command("cloud-init")
    @exits_on_error
    def cloud_init(
        *,
        limit: LimitOption = None,
        inventory_path: InventoryOption = DEFAULT_INVENTORY,
        output: Annotated[
            str | None,
            typer.Option(
                "--output", "-o", help="write the document to FILE (mode 0600)", metavar="FILE"
            ),
        ] = None,
        check: Annotated[
            bool,
            typer.Option(
                "--check/--no-check",
                help="add the runcmd check that dockerd came up with the files",
            ),
        ] = True,
        check_timeout: Annotated[
            int,
            typer.Option("--check-timeout", min=1, help="seconds the check waits for docker info"),
        ] = DEFAULT_CHECK_TIMEOUT,
        engine_versions: Annotated[
            list[str] | None,
            typer.Option("--engine-version", help="also validate for this Engine version"),
        ] = None,
        show_secrets: Annotated[
            bool,
            typer.Option(
                "--show-secrets",
                help="print the document on stdout even when it holds env()/file() values",
            ),
        ] = False,
    ) -> None:
        """Print a cloud-config document (#cloud-config, write_files, runcmd) that
        writes the files of the --limit hosts (which must render identically)
        before dockerd first starts, and checks that dockerd came up with them.

        Exit codes: 0 written; 1 validation errors or hosts that differ; 2 usage."""
        if not limit:
            raise UsageError("--limit GROUP|HOST is required: the hosts the image is for")
        _, tree, repo_hash = load_tree(inventory_path, limit, engine_versions or [])
        document = cloud_config(tree, check=check, timeout=check_timeout)
        hosts = [h.name for h in tree.hosts]
        shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
        engines = ", ".join(str(e) for e in tree.engines)
        header = [
            f"fleetcfg cloud-init {selection_text(limit)}: {_count(len(hosts), 'host')} ({shown}), "
            f"validated for Engine {engines}",
            f"repo sha256 {repo_hash}",
            "write_files lands the files before docker.service starts: no restart at boot.",
        ]
        if "bootcmd" in document:
            header.append(
                "bootcmd writes docker.service's drop-ins and runs systemctl daemon-reload "
                "(once per instance, before write_files): in effect at dockerd's first start."
            )
        if check:
            header.append("runcmd checks that dockerd came up with the files.")
        text = cloud_config_text(document, header=header)
        secrets = tree.secrets
        console = stderr_console()
        if secrets:
            console.print(
                "[yellow]warning:[/] "
                + escape(
                    f"the document holds {_count(len(secrets), 'env()/file() value')} in clear: "
                    "whoever can read the machine's user-data (the cloud API, its metadata "
                    "service) can read them"
                ),
                highlight=False,
            )
        if output is None:
            if secrets and not show_secrets:
                raise UsageError(
                    "the document holds secrets: write it with -o FILE (mode 0600), "
                    "or pass --show-secrets to print it"
                )
            typer.echo(text, nl=False)
            return
        try:
            write_atomic(Path(output), text, 0o600)
        except OSError as exc:
            raise FleetcfgError(f"cannot write {output}: {exc.strerror or exc}") from None
        console.print(escape(f"wrote {output}: {_count(len(tree.files), 'file')}"), highlight=False)
