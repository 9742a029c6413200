"""Garbage collection for one run of the ``fleetcfg`` command.

A run over a fleet keeps a large, long-lived heap: the imported modules
(pydantic models, typer, paramiko), the inventory and, as hosts finish, their
plans. CPython's collector walks every tracked object of a generation each
time it collects it, so with its defaults (a young collection every 700
allocations, older ones as they follow) a plan of a few hundred hosts spent
about 7% of its CPU walking objects that cannot be garbage, while holding
the GIL that the SSH threads wait for. Two settings, both for the process
of the command only (:func:`enable` runs in :func:`fleetcfg.cli.app.main`,
never when tests drive the typer app in-process):

* fewer collections: a young one every 20,000 allocations, an old one after
  50 young and 20 middle ones (reference counting still frees everything
  that is not in a cycle at once; cycles wait a little longer);
* :func:`settle` once the inventory is loaded: everything alive then
  (modules, the inventory, the templates) moves to the permanent generation
  (:func:`gc.freeze`) and is never walked again. It lives until the process
  ends anyway.
"""

from __future__ import annotations

import gc

#: allocations between young collections, young collections per middle one,
#: middle collections per old one
THRESHOLDS = (20_000, 50, 20)


def enable() -> None:
    """Tune the collector for this process (the command's own process)."""
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """Move what is alive now to the permanent generation (when the process
    runs the command: :func:`enable` set its thresholds)."""
    if gc.get_threshold() == THRESHOLDS:
        gc.freeze()
