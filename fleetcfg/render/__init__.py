"""Render profiles per host into validated daemon.json / config.json models.

Profiles
--------
A profile is a file in ``profiles/`` next to ``inventory.yaml``, found by name:
``base`` is the first of ``base.yaml.j2``, ``base.yml.j2``, ``base.json.j2``,
``base.yaml``, ``base.yml``, ``base.json`` that exists (two of them is an
error). ``.j2`` files are Jinja templates; the suffix before it says whether
the rendered text is YAML or JSON. Plain ``.yaml``/``.json`` files are used as
they are.

Templates run in Jinja's sandbox with ``StrictUndefined`` (an undefined
variable is an error naming the template line and the host), ``trim_blocks``
and ``lstrip_blocks`` (a line holding only ``{% ... %}`` leaves no blank line).
They see the host's variables (``vars``) as top-level names, plus:

``host`` (inventory name), ``address``, ``groups`` (every group of the host),
``engine_version`` (compares as a version: ``engine_version >= "25.0"``;
``.major``/``.minor``/``.patch``), ``kind`` (``daemon`` or ``client``),
``user`` (the client user, client profiles only), the lookups ``env(NAME[,
default])`` and ``file(PATH)`` (see :mod:`fleetcfg.core.secrets`), and the filter
``to_json``.

Inheritance
-----------
A profile may start from another one with a reserved top-level block that is
removed before validation::

    x-fleetcfg:
      extends: base                 # render base for the same host, then merge this over it
      append: [registry-mirrors]    # these lists extend base's instead of replacing it

Mappings merge key by key; lists and scalars replace the parent's unless their
path (dotted, e.g. ``log-opts.labels``) is listed under ``append`` (then the
child's items that the parent does not already have are added at the end).
``null`` removes a key the parent set; at the top level of a daemon profile with
``manage: keys`` it also removes the key from the host's file. Chains (a
extends b extends c) work; a cycle or a missing parent is an error at the
``extends`` line.

Provenance
----------
Every key of the result knows the template line that produced it and, when that
line substitutes variables, the inventory line that defined each of them in the
layer that won: :meth:`RenderedConfig.locate`. Validation findings are located
there (the inventory line when a variable supplied the value).

Speed
-----
Compiled templates are cached; each template's output is memoised on the
values of the variables it actually uses, and variables that a template only
prints as ``{{ name }}`` (e.g. ``{{ address }}``) are filled in after parsing,
so hosts that differ only in such values share one render and one parse.
"""

from __future__ import annotations

from fleetcfg.render.outputs import EXTENSION_KEY, resolve_path
from fleetcfg.render.profiles import PROFILE_SUFFIXES, ProfileFile, available_profiles, find_profile
from fleetcfg.render.renderer import Renderer, render_host
from fleetcfg.render.result import (
    CLIENT_PROTECTED_KEYS,
    DAEMON_PATH,
    Kind,
    Manage,
    RenderedConfig,
    client_config_path,
)
from fleetcfg.render.templates import EngineVersionVar

__all__ = [
    "CLIENT_PROTECTED_KEYS",
    "DAEMON_PATH",
    "EXTENSION_KEY",
    "PROFILE_SUFFIXES",
    "EngineVersionVar",
    "Kind",
    "Manage",
    "ProfileFile",
    "RenderedConfig",
    "Renderer",
    "available_profiles",
    "client_config_path",
    "find_profile",
    "render_host",
    "resolve_path",
]
