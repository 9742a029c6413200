"""README's exit-code table against what the commands do (the cases a unit
test can reach without hosts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import COMMANDS, app
from tests.unit.inventory.repo import write_repo

README = Path(__file__).resolve().parents[3] / "README.md"
runner = CliRunner()


def table() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in README.read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            for name in cells[0].split(","):
                rows[name.strip().strip("`")] = cells[1:]
    return rows


def test_every_command_has_a_row_in_the_exit_code_table() -> None:
    rows = table()
    for command in COMMANDS:
        assert any(name.split()[0] == command for name in rows), command


@pytest.mark.parametrize(
    ("args", "code", "column"),
    [
        (["lint", "-i", "REPO/ok"], 0, "no errors"),
        (["lint", "-i", "REPO/bad"], 1, "errors"),
        (["lint", "-i", "REPO/none/inventory.yaml"], 2, "usage error"),
        (["lint", "REPO/ok/inventory.yaml"], 2, "an inventory or profile given as a FILE"),
        (["lint", "--explain", "no-such-rule"], 2, "unknown option or rule"),
        (["hosts", "-i", "REPO/ok"], 0, "listed"),
        (["hosts", "-i", "REPO/bad-inventory"], 1, "inventory errors"),
        (["hosts", "-i", "REPO/ok", "--limit", "nope"], 2, "a `--limit` that matches nothing"),
        (["render", "web-01", "-i", "REPO/ok"], 0, "printed"),
        (["render", "nope", "-i", "REPO/ok"], 2, "unknown host"),
        (["schema", "--kind", "daemon"], 0, "printed"),
        (["status", "-i", "REPO/ok", "--limit", "nope"], 2, "a usage error also exits 2"),
        (["status", "-i", "REPO/ok", "--stale-after", "soon"], 2, "a usage error also exits 2"),
        (["schema", "--kind", "nope"], 2, "unknown `--kind`"),
    ],
)
def test_the_exit_code_is_the_one_readme_gives(
    tmp_path: Path, args: list[str], code: int, column: str
) -> None:
    ok = "defaults: {daemon_profile: base}\nhosts: {web-01: {address: 10.0.0.1}}\n"
    write_repo(tmp_path / "ok", ok, {"base.yaml": "live-restore: true\n"})
    write_repo(tmp_path / "bad", ok, {"base.yaml": "live-restore: true\nhosts: [fd://]\n"})
    write_repo(
        tmp_path / "bad-inventory", "hosts: {a: {address: 1.2.3.4}, b: {address: 1.2.3.4}}\n"
    )
    argv = [a.replace("REPO", str(tmp_path)) for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == code, result.output
    row = table()[args[0]]
    assert column in row[code], row
