"""Load ``inventory.yaml``: validate it, layer every setting per host, select hosts.

Layering
--------
Every setting (``vars``, ``ssh``, ``connection``, ``engine_version``,
``daemon_profile``, ``client_profile``, ``manage``, ``client_users``) is
resolved per host from these layers, each overriding the ones before it::

    defaults  <  parent group  <  child group  <  host

Mappings (``vars``, ``ssh``, ``service``, ``registries``, and mappings inside
``vars``) are merged key by key (``registries``: by registry name, then field
by field; ``NAME: null`` removes a registry); any other value, lists included,
replaces what the lower layer had.

A host's groups are the groups that list it in ``hosts:`` plus, transitively,
every group that has one of those in ``children:``. When two of its groups
that are not parent and child of each other both set a key, the group with the
higher ``priority:`` wins (a group without one inherits its parent's, default
0); with equal priorities and different values the inventory is ambiguous and
loading fails, naming both groups, the key and both lines. Setting the key on
the host itself (which always wins) also resolves it.

Layering happens once per distinct set of groups, not once per host: hosts
that share their groups share one resolved settings tree.

Selection (``--limit``)
-----------------------
Patterns are host names, group names (every host of the group and of its
child groups), ``all``, and globs (``ci-*``, matched against host and group
names). Several patterns (comma-separated or repeated) are a union;
``&pattern`` intersects and ``!pattern`` excludes, as in Ansible. A name that
matches nothing is a usage error.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from fleetcfg.core.boundedread import link_out_of
from fleetcfg.core.errors import InventoryError, UsageError
from fleetcfg.core.yamlsource import load_yaml, read_text
from fleetcfg.inventory.host import BUILTIN_DEFAULTS, BUILTIN_LAYER, GroupInfo, Host, Origin
from fleetcfg.inventory.layering import ALL_GROUP, deep_merge
from fleetcfg.inventory.model import InventoryModel
from fleetcfg.inventory.problems import InventoryErrors, located_validation_errors
from fleetcfg.inventory.repo import PROFILES_DIR, Inventory

DEFAULT_INVENTORY = "inventory.yaml"

__all__ = [
    "ALL_GROUP",
    "BUILTIN_DEFAULTS",
    "BUILTIN_LAYER",
    "DEFAULT_INVENTORY",
    "PROFILES_DIR",
    "GroupInfo",
    "Host",
    "Inventory",
    "InventoryErrors",
    "Origin",
    "deep_merge",
    "find_inventory",
    "load_inventory",
]


def find_inventory(given: str | Path | None = None, start: Path | None = None) -> str:
    """The inventory to use: ``given`` (``--inventory``, ``FLEETCFG_INVENTORY``)
    when there is one, else the nearest ``inventory.yaml`` in ``start`` (the
    current folder) or a folder above it, as git finds ``.git``; the path is
    relative to ``start`` (``../../inventory.yaml``) so that file names in
    messages stay short. ``inventory.yaml`` when there is none (loading it then
    says it is missing)."""
    if given is not None and str(given) != "":
        return str(given)
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_INVENTORY).is_file():
            return os.path.relpath(folder / DEFAULT_INVENTORY, here)
    return DEFAULT_INVENTORY


def load_inventory(path: str | Path = DEFAULT_INVENTORY, *, keep_going: bool = False) -> Inventory:
    """Read, validate and resolve an inventory file.

    ``inventory.yaml`` (the default) means the nearest one, in the current
    folder or above (:func:`find_inventory`).

    Raises :class:`UsageError` when the file does not exist and
    :class:`InventoryErrors` (every problem, located) when it is invalid.
    With ``keep_going`` (lint), problems in the hosts and groups (a duplicate
    host or address, a group conflict, a bad group reference) do not raise:
    they are in ``Inventory.problems``, and the hosts they leave ambiguous in
    ``Inventory.ambiguous``."""
    if str(path) == DEFAULT_INVENTORY:  # the default: the nearest one, here or above
        path = find_inventory(None)
    file = Path(path)
    if file.is_dir():
        file = file / DEFAULT_INVENTORY
    display = str(path) if file == Path(path) else str(file)
    if not file.exists():
        raise UsageError(
            f"inventory not found: {display}",
            hint="run in the repo folder or pass -i PATH/inventory.yaml",
        )
    target = link_out_of(file)
    if target is not None:
        # a pull request's inventory.yaml -> /etc/shadow: lint would print
        # the unknown keys it found there (each line of the file)
        raise InventoryError(
            f"the file is a symbolic link out of the repo (to {target}): not read",
            file=display,
            hint="name the inventory by its own path if that file is meant",
        )
    text = read_text(file, display, InventoryError)
    doc = load_yaml(text, display, error=InventoryError)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise InventoryError(
            "inventory.yaml must be a mapping (defaults, groups, hosts, ...)",
            file=display,
            line=1,
        )
    doc.data = data
    try:
        model = InventoryModel.model_validate(data)
    except ValidationError as exc:
        raise InventoryErrors(located_validation_errors(exc, doc)) from None
    return Inventory(file, display, model, doc, keep_going=keep_going)
