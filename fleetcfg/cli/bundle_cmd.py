"""``fleetcfg bundle -o FILE --sign-key KEY [--include-secrets]``: the repo
(inventory.yaml, profiles/ and every repo file the hosts read) as one signed
file for ``fleetcfg converge --bundle``."""

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
from fleetcfg.plan.repohash import repo_files, repo_sha256
from fleetcfg.render.references import RepoReferences, repo_references

#: at most this many problems are listed when a bundle is refused
_SHOWN = 10


def _refusal(refs: RepoReferences) -> FleetcfgError:
    """One error that lists where the repo's hosts fail to read their files."""
    lines = [str(p) for p in refs.problems[:_SHOWN]]
    more = len(refs.problems) - len(lines)
    if more:
        lines.append(f"... and {more} more")
    first = refs.problems[0]
    return FleetcfgError(
        "the bundle would not hold every file the hosts read, nothing was written:\n  "
        + "\n  ".join(lines),
        hint="fix the inventory or profile line named, or pass --include-secrets for secrets",
        file=None if len(refs.problems) > 1 else first.file,
    )


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
        include_secrets: Annotated[
            bool,
            typer.Option(
                "--include-secrets",
                help="also carry the secrets the hosts read from the repo (file() values, "
                "registries' client_key_file): the bundle is signed, not encrypted",
            ),
        ] = False,
    ) -> None:
        """Write inventory.yaml, profiles/ and every other repo file the hosts
        read (registries' certificates, file() lookups: found by rendering every
        host) as one signed bundle (a manifest with the revision and each
        file's sha256, signed with Ed25519) for `fleetcfg converge --bundle FILE
        --trusted-keys FILE`.

        A bundle is signed, not encrypted: a secret the hosts read from the
        repo (a file() value, a registry's client_key_file) is refused, naming
        the file and the line that reads it, unless --include-secrets (the
        bundle is then written 0600). Better: let the host supply it (env() in
        the profile, client_key_env for the registry, set in the converge
        service's environment). A file that is missing, or outside the repo, is
        refused with the line that names it.

        The revision is the git commit and its commit time when the repo is a
        git checkout, else the repo's sha256 (over inventory.yaml, profiles/ and
        the files the hosts read) and the current time."""
        key = load_signing_key(sign_key)
        inventory = load_inventory(inventory_path)
        refs = repo_references(inventory, include_secrets=include_secrets)
        if refs.problems:
            raise _refusal(refs)
        revision = repo_revision(inventory.root) or Revision(
            f"sha256:{repo_sha256(inventory, refs.files, refs.secrets)}", int(time.time())
        )
        paths = {**refs.files, **repo_files(inventory)}
        files = {name: path.read_bytes() for name, path in sorted(paths.items())}
        console = stderr_console()
        if refs.secrets:
            console.print(
                "[yellow]warning:[/] "
                + escape(
                    f"the bundle carries secrets in clear ({', '.join(sorted(refs.secrets))}): "
                    "it is written 0600; keep it where only the hosts can read it"
                ),
                highlight=False,
            )
        try:
            write_atomic(
                output, make_bundle(files, revision, key), 0o600 if refs.secrets else 0o644
            )
        except OSError as exc:
            raise FleetcfgError(
                f"cannot write the bundle: {exc.strerror or exc}", file=str(output)
            ) from None
        console.print(
            escape(f"wrote {output}: {len(files)} files, revision {revision.commit[:19]}"),
            highlight=False,
        )
