"""Differential tests: fleetcfg's verdicts against Debian's real dockerd 26.1.5."""
