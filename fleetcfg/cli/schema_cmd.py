"""``fleetcfg schema --kind daemon|client|inventory``: print a JSON Schema."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer


class SchemaKind(StrEnum):
    daemon = "daemon"
    client = "client"
    inventory = "inventory"


def _schema(kind: SchemaKind) -> dict[str, Any]:
    if kind is SchemaKind.inventory:
        from fleetcfg.inventory.model import inventory_json_schema

        return inventory_json_schema()
    from fleetcfg.dockerd.schema import client_json_schema, daemon_json_schema

    return daemon_json_schema() if kind is SchemaKind.daemon else client_json_schema()


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema(
        kind: Annotated[
            SchemaKind, typer.Option("--kind", "-k", help="which file the schema describes")
        ] = SchemaKind.daemon,
    ) -> None:
        """Print the JSON Schema (draft 2020-12) of daemon.json, config.json or inventory.yaml."""
        typer.echo(json.dumps(_schema(kind), indent=2, sort_keys=True))
