"""fleetcfg.plan."""
