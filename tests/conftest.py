"""Shared pytest configuration."""

pytest_plugins = ["tests.fleet.pytest_plugin"]
