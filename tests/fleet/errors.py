"""The one error the test fleet raises on purpose."""

from __future__ import annotations

from fleetcfg.core.errors import FleetcfgError


class FleetError(FleetcfgError):
    """The test fleet cannot be started, changed or stopped as asked.

    The message names the host (when there is one) and says what to do."""
