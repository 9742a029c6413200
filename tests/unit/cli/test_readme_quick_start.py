"""The README's quick start runs on the shipped example as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from fleetcfg.cli.app import app

REPO = Path(__file__).resolve().parents[3]


def _quick_start_commands() -> list[tuple[dict[str, str], list[str]]]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start.*?```sh\n(.*?)\n```", text, re.S)
    assert block is not None, "README has a Quick start sh block"
    commands = []
    for part in block.group(1).split("&&"):
        words = shlex.split(part)
        env = {}
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words and words[0].endswith("/fleetcfg"):
            commands.append((env, words[1:]))
    return commands


def test_the_quick_start_fleetcfg_commands_exit_0_on_the_shipped_example() -> None:
    commands = _quick_start_commands()
    assert [args[0] for _, args in commands] == ["lint", "render"]
    runner = CliRunner()
    for env, args in commands:
        result = runner.invoke(app, [*args, "-i", str(REPO / "inventory.yaml")], env=env)
        assert result.exit_code == 0, (args, result.output)
