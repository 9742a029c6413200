"""Fleet rules (FC030-FC041): what no single file shows.

``base`` holds what every rule works with and the runner; the rules are in
``networks``, ``proxies``, ``settings`` and ``credentials``.

Each rule is a small function from one host's rendered configuration
(:class:`Target`) and what is known about the whole inventory (:class:`Fleet`)
to :class:`Hit` s. A hit names the key path in the rendered document; the repo
lint turns it into a finding located at the template or inventory line that
produced the key (or, for a missing key, at the profile every other one
extends). Messages never depend on the host they are found on, so that one
mistake shared by 800 hosts is reported once.

Rules read the raw rendered data and skip values of the wrong type: the model
validation reports those.
"""

from __future__ import annotations

# The rule modules register their rules when imported, in this order (the
# order the rules run in, and so of their findings).
# isort: off
from fleetcfg.lint.fleet_rules import networks  # FC030-FC032
from fleetcfg.lint.fleet_rules import proxies  # FC033-FC035
from fleetcfg.lint.fleet_rules import settings  # FC036-FC039
from fleetcfg.lint.fleet_rules import credentials  # FC040-FC041

# isort: on
from fleetcfg.lint.fleet_rules.base import Fleet, Hit, RuleRunner, Target

__all__ = ["Fleet", "Hit", "RuleRunner", "Target", "credentials", "networks", "proxies", "settings"]
