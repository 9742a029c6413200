"""fleetcfg.host."""
