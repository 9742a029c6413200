"""fleetcfg.dockerd."""
