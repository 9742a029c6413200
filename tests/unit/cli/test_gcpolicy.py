"""The ``fleetcfg`` process tunes the garbage collector for a run over a
fleet (fleetcfg/cli/gcpolicy.py); typer apps driven in-process (tests, other
programs embedding fleetcfg) keep Python's defaults."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

from fleetcfg.cli import gcpolicy
from fleetcfg.cli.env import CommandEnv

INVENTORY = """\
defaults: {daemon_profile: base}
hosts:
  web-01: {address: 10.0.0.1}
"""


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "base.yaml").write_text("live-restore: true\n")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    return inventory


def test_the_command_process_collects_less_often_and_freezes_what_the_run_keeps(
    tmp_path: Path,
) -> None:
    inventory = _repo(tmp_path)
    program = textwrap.dedent(
        f"""
        import gc
        from fleetcfg.cli import gcpolicy
        from fleetcfg.cli.env import CommandEnv
        gcpolicy.enable()  # what fleetcfg.cli.app.main does first
        CommandEnv(inventory_path={str(inventory)!r}).load_inventory()
        print(gc.get_threshold(), gc.get_freeze_count() > 0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[0] == f"{gcpolicy.THRESHOLDS} True"


def test_the_app_driven_in_process_keeps_the_collector_as_it_is(tmp_path: Path) -> None:
    inventory = _repo(tmp_path)
    before = gc.get_threshold(), gc.get_freeze_count()
    CommandEnv(inventory_path=str(inventory)).load_inventory()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_main_enables_the_policy_before_the_command_runs() -> None:
    program = textwrap.dedent(
        """
        import gc
        from fleetcfg.cli import app
        app.app = lambda **_: print(gc.get_threshold())  # the command, as main runs it
        app.main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(gcpolicy.THRESHOLDS)
