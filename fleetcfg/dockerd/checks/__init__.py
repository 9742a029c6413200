"""Checks on a typed daemon.json that need more than one field's type.

Each check is a small function from a :class:`RuleContext` to findings, and
each message says what dockerd would do and how to fix it. They cover:

* values dockerd checks when it loads the file (``dockerd --validate``):
  enumerations, ranges, labels, exec-opts, userland-proxy-path, TLS files;
* what ``--validate`` lets through but the daemon refuses at START (runtimes,
  pools, bip/bridge, icc/iptables, storage driver, log driver and options when
  log-opts is set, registries, metrics address, containerd namespaces);
* what breaks every container create or start (ulimits, log options' values);
* version-dependent behaviour, deprecations and settings with no effect.

Checks never see a top-level key whose value failed typed validation
(``ctx.invalid``), so one mistake is reported once. Importing this package
registers every check (one module per area).
"""

from fleetcfg.dockerd.checks import (  # noqa: F401  (registers the checks)
    load_time,
    logs,
    network,
    platform,
    registries,
    remote_api,
    runtimes,
    storage,
    ulimits,
    versions,
)
from fleetcfg.dockerd.checks.context import RuleContext, run_checks
from fleetcfg.dockerd.checks.load_time import cgroup_driver

__all__ = ["RuleContext", "cgroup_driver", "run_checks"]
