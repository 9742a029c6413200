"""The phase machine: one recovery per phase, in the order a run goes."""

from __future__ import annotations

from fleetcfg.apply.machine import RECOVERY
from fleetcfg.apply.phases import Phase


def test_every_phase_has_one_recovery_entry() -> None:
    assert set(RECOVERY) == set(Phase)


def test_only_the_phases_between_locked_and_unlocked_hold_the_lock() -> None:
    held = [p for p in Phase if p.holds_lock]
    assert held == [
        Phase.LOCKED,
        Phase.STAGED,
        Phase.REPLACED,
        Phase.RECORDED,
        Phase.ACTED,
        Phase.HEALTHY,
    ]


def test_a_failure_before_any_replace_never_restores_files() -> None:
    names = {p: [f.__name__ for f in RECOVERY[p]] for p in Phase}
    for phase in (Phase.NEW, Phase.LOCKING, Phase.LOCKED, Phase.STAGED):
        assert "_restore" not in names[phase]
    for phase in (Phase.REPLACED, Phase.RECORDED, Phase.ACTED):
        assert "_restore" in names[phase] and names[phase][-1] == "_release"
    assert "_recover_daemon" in names[Phase.ACTED]
    assert "_recover_daemon" not in names[Phase.RECORDED]
