"""fleetcfg: typed, validated, plan/apply management of Docker daemon configuration."""

__version__ = "0.1.0"
