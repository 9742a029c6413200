"""What ``systemctl reload docker`` (SIGHUP) does with each daemon.json key:
the one table (:data:`RELOADABLE`), and what follows from it for a change.

dockerd reloads only a few keys (daemon/reload.go). A key it re-applies on
every reload (``always``) resets to its default when it is removed; a key it
applies only when present (``if-present``) keeps its running value when it is
removed (or emptied, for the keys in :data:`NON_EMPTY`), so that change needs
a restart; keys dockerd accepts and never applies (the flag spellings in
:data:`fleetcfg.dockerd.flags.IGNORED_FLAGS`) have no effect either way; every
other key is read only when dockerd starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from fleetcfg.dockerd.flags import IGNORED_FLAGS


class Reload(StrEnum):
    """What dockerd does with a key on SIGHUP (``systemctl reload docker``)."""

    #: not applied on reload: a change needs a restart
    RESTART = "restart"
    #: applied on reload when the key is present (and non-empty); removing the
    #: key does not reset the running value, so a removal needs a restart
    IF_PRESENT = "if-present"
    #: re-applied on every reload; an absent key resets it to the default, so
    #: any change, removal included, is reloadable
    ALWAYS = "always"
    #: dockerd accepts the key but never applies it: no reload, no restart
    NO_EFFECT = "no-effect"


#: the daemon.json keys dockerd applies on reload (every other key: restart)
RELOADABLE: Mapping[str, Reload] = {
    "allow-nondistributable-artifacts": Reload.IF_PRESENT,
    "authorization-plugins": Reload.ALWAYS,
    "debug": Reload.IF_PRESENT,
    "default-cgroupns-mode": Reload.IF_PRESENT,
    "default-ipc-mode": Reload.IF_PRESENT,
    "default-runtime": Reload.IF_PRESENT,
    "default-shm-size": Reload.IF_PRESENT,
    "features": Reload.ALWAYS,
    "insecure-registries": Reload.IF_PRESENT,
    "labels": Reload.IF_PRESENT,
    "live-restore": Reload.IF_PRESENT,
    "max-concurrent-downloads": Reload.ALWAYS,
    "max-concurrent-uploads": Reload.ALWAYS,
    "max-download-attempts": Reload.ALWAYS,
    "network-diagnostic-port": Reload.ALWAYS,
    "registry-mirrors": Reload.IF_PRESENT,
    "runtimes": Reload.IF_PRESENT,
    "shutdown-timeout": Reload.IF_PRESENT,
}

#: what dockerd falls back to on reload when an ``always`` key is absent
RESET_DEFAULTS = {
    "max-concurrent-downloads": "3",
    "max-concurrent-uploads": "5",
    "max-download-attempts": "5",
    "features": "an empty map (every feature at its default)",
    "authorization-plugins": "no authorization plugins",
    "network-diagnostic-port": "0 (the diagnostic server stops)",
}
#: ``if-present`` keys dockerd applies on reload only when non-empty
NON_EMPTY = frozenset({"default-runtime", "default-ipc-mode", "default-cgroupns-mode"})


def key_reload(key: str) -> Reload:
    """What dockerd does with top-level ``key`` on SIGHUP."""
    reload = RELOADABLE.get(key)
    if reload is not None:
        return reload
    if key in IGNORED_FLAGS:
        return Reload.NO_EFFECT  # accepted and never applied
    return Reload.RESTART


def restart_reason(key: str, *, removed: bool, emptied: bool) -> str | None:
    """Why a change of top-level ``key`` needs a restart (None: a reload
    applies it). ``removed``/``emptied``: the whole key is removed, or set to
    ``""``."""
    reload = key_reload(key)
    if reload in (Reload.ALWAYS, Reload.NO_EFFECT):
        return None
    if reload is Reload.RESTART:
        return f"{key}: dockerd applies it only when it starts"
    emptied = emptied and key in NON_EMPTY
    if removed or emptied:
        return (
            f"{key} is {'removed' if removed else 'emptied'}: on reload dockerd keeps the "
            "running value, only a restart drops it"
        )
    return None


def reset_note(key: str) -> str | None:
    """The note for top-level ``key`` when it is removed and a reload resets
    it to its default (None: it does not)."""
    if key_reload(key) is not Reload.ALWAYS:
        return None
    default = RESET_DEFAULTS.get(key, "its default")
    return f"{key} is removed: on reload dockerd resets it to {default}"
