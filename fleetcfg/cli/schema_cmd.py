from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Registers this module's commands (filled in by its issue)."""
