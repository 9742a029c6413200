"""The exit codes of every fleetcfg command, in one enum.

The CLI maps errors to them in one place (:mod:`fleetcfg.cli.exits`); the
apply report computes its code from the host results (and the journal records
it), which is why the enum lives in the core rather than in the CLI.

====  ====================================================================
0     success: lint found no error; plan planned every host; apply or
      rollback finished every host (or had nothing to do); converge had
      nothing to do; status: every host is fine
1     errors: lint errors, a host with errors or unreachable in a plan, a
      host that failed (rolled back where anything was written), a halted
      rollout; with ``plan --detailed-exitcode``, every error; status: a
      host could not be asked or its converge state not read
2     usage error (bad option, missing file); ``plan --detailed-exitcode``:
      there are changes (Terraform's convention); converge: it changed the
      host; status: a host needs attention (stopped reporting, disabled,
      failed, drift)
3     apply: a saved plan is stale for some hosts (they were not touched)
4     apply, rollback: another fleetcfg run holds a host's lock; converge:
      disabled or locked
130   interrupted (Ctrl-C)
====  ====================================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    #: ``plan --detailed-exitcode``: the plan has changes (the same number as USAGE)
    CHANGES = 2
    STALE = 3
    LOCKED = 4
    INTERRUPTED = 130
