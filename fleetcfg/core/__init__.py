"""fleetcfg.core."""
