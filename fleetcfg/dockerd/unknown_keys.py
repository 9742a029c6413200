"""What dockerd says about a daemon.json key it does not know, and the
model's own check (:meth:`DaemonConfig.model_validate` refuses keys no Engine
release accepts). Below both :mod:`fleetcfg.dockerd.daemon` and
:mod:`fleetcfg.dockerd.keys` (the full key check), so neither imports the
other's way round."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from fleetcfg.dockerd.base import fail
from fleetcfg.dockerd.flags import IGNORED_FLAGS, SELF_CONFLICTING

#: keys people write that dockerd rejects, with what to do instead
KNOWN_MISTAKES = {
    "default-init": 'there is no daemon.json key for it; use "init": true',
    "resolv-conf": "dockerd has no such option; it reads /etc/resolv.conf (or systemd-resolved's)",
    "containerd-plugin-namespace": (
        "not a dockerd option; the flag spelling containerd-plugins-namespace is accepted "
        "but ignored, so the plugin namespace cannot be set in daemon.json"
    ),
    "swarm-raft-heartbeat-tick": "not settable in daemon.json",
    "swarm-raft-election-tick": "not settable in daemon.json",
    "graph-driver": 'use "storage-driver"',
    "storage-options": 'use "storage-opts"',
    "log-options": 'use "log-opts"',
    "disable-legacy-registry": "removed in Engine 17.12; remove it",
}


def suggest(name: str, candidates: Iterable[str]) -> str:
    """A "did you mean" for an unknown key, or ``""``."""
    pool = sorted(candidates)
    for candidate in pool:
        if candidate.casefold() == name.casefold():
            return candidate
    folded = name.lower().replace("_", "-")
    if folded in pool:
        return folded
    close = difflib.get_close_matches(folded, pool, n=1, cutoff=0.75)
    return close[0] if close else ""


def unknown_message(name: str, keys: Iterable[str], where: str = "") -> str:
    """The finding text for ``name``, which dockerd does not know (``keys``:
    the daemon.json keys to suggest from)."""
    hint = KNOWN_MISTAKES.get(name)
    base = f'"{name}" is not a dockerd option{where}; dockerd refuses to start'
    base += " (the following directives don't match any configuration option)"
    if hint:
        return f"{base}: {hint}"
    guess = suggest(name, keys)
    if guess:
        return f'{base}. Did you mean "{guess}"?'
    return f"{base}. Remove it or fix its spelling (keys are case-sensitive)"


def assert_known_keys(data: Any, keys: Collection[str]) -> None:
    """For ``DaemonConfig.model_validate``: raise on keys no Engine knows
    (``keys``: the model's daemon.json keys)."""
    if not isinstance(data, Mapping):
        return

    def passes(name: str) -> bool:
        return name in keys or name in IGNORED_FLAGS or name in SELF_CONFLICTING

    unknown = [
        str(k)
        for k, val in data.items()
        if k not in keys
        and k not in IGNORED_FLAGS
        and not (isinstance(val, dict) and all(passes(i) for i in val))
    ]
    if unknown:
        raise fail("FC002", "; ".join(unknown_message(k, keys) for k in unknown))
