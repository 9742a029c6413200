"""Decimal numbers as dockerd (Go's ``strconv``), systemd and the host's
shell tools write them: ASCII digits only.

``str.isdigit`` is true for ``"²"`` (which ``int`` refuses: a crash where a
finding was due) and for ``"٣"`` (which ``int`` reads as 3 where dockerd
refuses the value). Text from a repo under review or from a host is checked
with :func:`is_digits` before ``int``.
"""

from __future__ import annotations

__all__ = ["is_digits"]


def is_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits."""
    return text.isascii() and text.isdigit()
