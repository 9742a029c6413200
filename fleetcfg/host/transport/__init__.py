"""Transports: the one narrow place where fleetcfg touches a host.

``base`` defines the protocol; ``ssh`` (the only module that imports paramiko),
``local`` and ``fake`` implement it. Core code (facts, planner, executor) only
ever sees :class:`fleetcfg.host.transport.base.Transport`.

- ``targets``: connection settings (:class:`SshTarget`, :class:`LocalTarget`)
  and their resolution against ssh_config
- ``ssh``: :class:`SshConnector` (one per run: shared keys, known_hosts, jump
  host connections) and :class:`SshTransport`
- ``local``: :class:`LocalTransport` (``connection: local``)
- ``fake`` / ``fakehost``: in-memory hosts for unit tests
- ``known_hosts``, ``scripts``: pure helpers (known_hosts files; the sh
  programs behind run_many, read_file and write_file)
"""
