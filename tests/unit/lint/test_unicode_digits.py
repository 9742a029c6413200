"""Numbers in a daemon.json under review are ASCII digits, as dockerd reads
them (Go's strconv): Python's ``str.isdigit`` also takes "²", which ``int``
refuses (lint stopped with an internal error), and "٣", which ``int`` reads
as 3 (lint passed a value dockerd refuses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetcfg.cli.app import app
from fleetcfg.core.numbers import is_digits

runner = CliRunner()


@pytest.mark.parametrize("facility", ["\u00b2", "\u0663", "\U0001d7e0"])
def test_a_syslog_facility_in_other_digits_than_ascii_is_a_finding_not_a_crash(
    tmp_path: Path, facility: str
) -> None:
    path = tmp_path / "daemon.json"
    config = {"log-driver": "syslog", "log-opts": {"syslog-facility": facility}}
    path.write_text(json.dumps(config, ensure_ascii=False))
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output + result.stderr
    assert "FC012" in result.output and "is not a syslog facility" in result.output


def test_only_ascii_digits_are_digits() -> None:
    assert is_digits("0123456789")
    assert not any(is_digits(t) for t in ("", "\u00b2", "\u0663", "1\u00b2", "-1", " 1"))
