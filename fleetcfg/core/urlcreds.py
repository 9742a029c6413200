"""Credentials in URLs, wherever they came from: ``http://user:pass@proxy:3128``
is printed as ``http://user:***@proxy:3128``, and so is a proxy written
without its scheme (``user:pass@proxy:3128``: Go, in dockerd and the docker
CLI, reads it as ``http://user:pass@proxy:3128``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

MASK = "***"

#: ``scheme://``: the start of a URL's authority
_URL_START = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://")
#: where a URL's host part ends at the latest: white space, or the end of a
#: JSON string in JSON text (an unescaped quote before , ] } or :)
_URL_END = re.compile(r"\s|(?<!\\)\"[,\]}:]")
#: a whole value: between white space, quotes or the ends of the text
_VALUE = re.compile(r"[^\s\"'`]+")
#: what follows a proxy's userinfo: host (or [IPv6]), port, path
_PROXY_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?(?:/.*)?", re.DOTALL)


def _mask_userinfo(userinfo: str) -> str:
    user, colon, _ = userinfo.partition(":")
    return f"{user}:{MASK}" if colon else MASK


def _userinfo_spans(text: str) -> list[tuple[int, int]]:
    """``(start, at)`` of each URL's userinfo in ``text`` (``text[start:at]``),
    left to right: everything between ``//`` and the last ``@`` before the
    host, as a URL parser sees it (the host part ends at white space, at the
    next ``scheme://`` or where a JSON string ends); and of each proxy
    written without its scheme (:func:`_bare_userinfo_spans`)."""
    if "@" not in text:
        return []
    urls = list(_url_userinfo_spans(text)) if "://" in text else []
    bare = list(_bare_userinfo_spans(text))
    if not urls or not bare:
        return urls or bare
    spans = list(urls)
    index = 0
    for start, at in bare:  # both left to right: keep those no URL overlaps
        while index < len(urls) and urls[index][1] <= start:
            index += 1
        if index == len(urls) or at <= urls[index][0]:
            spans.append((start, at))
    return sorted(spans)


def _bare_userinfo_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of :func:`_userinfo_spans` in proxies written without their
    scheme: Go (dockerd, the docker CLI) reads ``user:pass@proxy:3128`` as
    ``http://user:pass@proxy:3128``. A whole value that is
    ``user:password@host[:port][/path]``, up to its last ``@``."""
    for value in _VALUE.finditer(text):
        token = value.group()
        at = token.rfind("@")
        colon = token.find(":", 0, at) if at > 0 else -1
        if colon <= 0 or "://" in token or "/" in token[:colon] or "@" in token[:colon]:
            continue
        if _PROXY_HOST.fullmatch(token, at + 1):
            yield value.start(), value.start() + at


def _url_userinfo_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of :func:`_userinfo_spans` in URLs with a scheme."""
    pos = 0
    starts = [m.end() for m in _URL_START.finditer(text)]
    for index, start in enumerate(starts):
        if start < pos:
            continue
        limit = starts[index + 1] if index + 1 < len(starts) else len(text)
        stop = _URL_END.search(text, start, limit)
        end = stop.start() if stop else limit
        at = text.rfind("@", start, end)
        if at <= start:
            continue
        yield start, at
        pos = at + 1


def mask_url_credentials(text: str) -> str:
    """``http://user:pass@proxy:3128`` -> ``http://user:***@proxy:3128``.

    The userinfo (:func:`_userinfo_spans`) is masked whole, so that a
    password holding ``/``, ``,``, ``"`` or ``:`` is masked whole. A userinfo
    without a password is masked whole (``https://***@host``: a token)."""
    out: list[str] = []
    pos = 0
    for start, at in _userinfo_spans(text):
        out.append(text[pos:start])
        out.append(_mask_userinfo(text[start:at]) + "@")
        pos = at + 1
    out.append(text[pos:])
    return "".join(out)


def url_credentials(text: str) -> list[str]:
    """The userinfo (``user:pass``) of every URL in ``text``: what
    :func:`mask_url_credentials` masks."""
    return [text[start:at] for start, at in _userinfo_spans(text)]
