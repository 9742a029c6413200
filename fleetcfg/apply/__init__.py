"""fleetcfg.apply."""
