"""Transports: the one narrow place where fleetcfg touches a host.

``base`` defines the protocol; ``ssh`` (the only module that imports paramiko),
``local`` and ``fake`` implement it. Core code (facts, planner, executor) only
ever sees :class:`fleetcfg.transport.base.Transport`.
"""
