"""A ProxyCommand for tests: a small Python program that relays stdin/stdout
to host:port (what ``nc %h %p`` does), so no netcat is needed."""

from __future__ import annotations

from pathlib import Path

RELAY = (
    "import socket, sys, threading\n"
    "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
    "def up():\n"
    "    while data := sys.stdin.buffer.read1(65536):\n"
    "        s.sendall(data)\n"
    "    s.shutdown(socket.SHUT_WR)\n"
    "threading.Thread(target=up, daemon=True).start()\n"
    "while data := s.recv(65536):\n"
    "    sys.stdout.buffer.write(data); sys.stdout.buffer.flush()\n"
)


def write_relay(folder: Path) -> Path:
    """``folder/relay.py``: run it as ``python relay.py HOST PORT``."""
    path = folder / "relay.py"
    path.write_text(RELAY)
    return path
