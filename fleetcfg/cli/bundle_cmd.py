"""``fleetcfg bundle -o FILE --sign-key KEY``: the repo (inventory.yaml and
profiles/) as one signed file for ``fleetcfg converge --bundle``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fleetcfg.apply.converge import repo_revision
from fleetcfg.cli.common import InventoryOption
from fleetcfg.cli.exits import exits_on_error
from fleetcfg.cli.output import stderr_console
from fleetcfg.core.atomicfile import write_atomic
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.host.bundle import load_signing_key, make_bundle
from fleetcfg.host.pull import Revision
from fleetcfg.inventory import DEFAULT_INVENTORY, load_inventory
from fleetcfg.plan.fleet import repo_files, repo_sha256


def register(app: typer.Typer) -> None:
    @app.command("bundle")
    @exits_on_error
    def bundle_cmd(
        *,
        inventory_path: InventoryOption = DEFAULT_INVENTORY,
        output: Annotated[
            Path, typer.Option("--output", "-o", help="the bundle file to write", metavar="FILE")
        ],
        sign_key: Annotated[
            Path,
            typer.Option(
                "--sign-key",
                help="an unencrypted Ed25519 private key (ssh-keygen -t ed25519); hosts "
                "trust its .pub",
                metavar="KEY",
            ),
        ],
    ) -> None:
        """Write inventory.yaml and profiles/ as one signed bundle (a manifest with
        the revision and each file's sha256, signed with Ed25519) for `fleetcfg
        converge --bundle FILE --trusted-keys FILE`.

        The revision is the git commit and its commit time when the repo is a
        git checkout, else the repo's sha256 and the current time."""
        key = load_signing_key(sign_key)
        inventory = load_inventory(inventory_path)
        revision = repo_revision(inventory.root) or Revision(
            f"sha256:{repo_sha256(inventory)}", int(time.time())
        )
        files = {name: path.read_bytes() for name, path in repo_files(inventory).items()}
        try:
            write_atomic(output, make_bundle(files, revision, key), 0o644)
        except OSError as exc:
            raise FleetcfgError(
                f"cannot write the bundle: {exc.strerror or exc}", file=str(output)
            ) from None
        stderr_console().print(
            escape(f"wrote {output}: {len(files)} files, revision {revision.commit[:19]}"),
            highlight=False,
        )
