"""Secrets in profiles: the ``env()`` and ``file()`` lookups, and masking.

Secrets never live in the repo. A profile reads them when it is rendered::

    http-proxy: "http://{{ proxy_user }}:{{ env('PROXY_PASSWORD') }}@proxy.corp:3128"
    token: "{{ file('secrets/registry-token') }}"

* ``env(NAME)`` is the environment variable ``NAME`` of the fleetcfg process,
  for the names inventory.yaml declares (``secrets: {env: [NAME]}``) and no
  other; ``env(NAME, default)`` uses ``default`` when it is not set. A variable
  that is not set and has no default is an error naming the host, template and
  line.
* ``file(PATH)`` is the content of a UTF-8 file, relative to the folder of
  ``inventory.yaml`` and inside it (after following symlinks), without its
  trailing newline. A missing or unreadable file is an error likewise.

Every value a lookup returns (defaults included) is registered as a secret:
fleetcfg prints it as ``***`` in render output, plans, diffs and error
messages. Credentials in URLs (``http://user:pass@proxy:3128``) are always
printed as ``http://user:***@proxy:3128``, wherever they came from, and so
is a proxy written without its scheme (:mod:`fleetcfg.core.urlcreds`). Values
shorter than 4 characters are masked only where they are a whole value or a
whole word, so that masking cannot mangle unrelated text.
"""

from __future__ import annotations

import base64
import difflib
import functools
import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from fleetcfg.core.boundedread import TEXT_LIMIT, read_bounded
from fleetcfg.core.errors import SecretLookupError
from fleetcfg.core.jsondoc import Loc
from fleetcfg.core.urlcreds import MASK, mask_url_credentials

#: secrets shorter than this are masked only as whole values / whole words
MIN_SUBSTRING_SECRET = 4
#: base64 fragments shorter than this are not masked (they would match by chance)
MIN_BASE64_FORM = 8

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def holds_credentials(text: str, secrets: Iterable[str]) -> bool:
    """Whether ``text`` holds a URL with credentials (``http://user:pass@...``)
    or any of ``secrets`` (what ``env()`` and ``file()`` returned), in any
    form: a file with such content must be readable by its owner only."""
    return mask_text(text, secrets) != text


def _base64_forms(secret: str) -> set[str]:
    """The parts of base64 text that only ``secret`` determines, wherever it
    sits in the encoded data (three alignments; standard and URL-safe)."""
    data = secret.encode()
    forms: set[str] = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        core = encoded[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6]
        if len(core) >= MIN_BASE64_FORM:
            forms.add(core)
            forms.add(core.translate(_URLSAFE))
    return forms


_URLSAFE = str.maketrans("+/", "-_")


def secret_forms(secret: str) -> set[str]:
    """Every form ``secret`` may be printed in: as it is, JSON-escaped (once
    and twice: a JSON document inside a JSON string), as a Python repr,
    URL-encoded (every reserved character, Jinja's ``urlencode``, form
    encoding) and base64-encoded."""
    return set(_secret_forms(secret))


@functools.lru_cache(maxsize=1024)
def _secret_forms(secret: str) -> frozenset[str]:
    """:func:`secret_forms`, worked out once per secret (a fleet's hosts
    share their secrets: masking runs for every string a plan prints)."""
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {
        secret,
        escaped,
        json.dumps(secret)[1:-1],
        json.dumps(escaped, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote(secret, safe="/"),
        quote_plus(secret),
    }
    forms |= {f.lower() for f in forms if "%" in f}
    if len(secret) >= MIN_SUBSTRING_SECRET:
        forms |= _base64_forms(secret)
    return frozenset(f for f in forms if f)


@functools.lru_cache(maxsize=256)
def _maskers(secrets: frozenset[str]) -> tuple[tuple[str, re.Pattern[str] | None], ...]:
    """The forms of ``secrets``, longest first, each with the pattern that
    masks it where it is a whole word (None: masked wherever it occurs)."""
    ordered = sorted({f for s in secrets if s for f in _secret_forms(s)}, key=len, reverse=True)
    return tuple(
        (
            form,
            None
            if len(form) >= MIN_SUBSTRING_SECRET
            else re.compile(rf"(?<![\w]){re.escape(form)}(?![\w])"),
        )
        for form in ordered
    )


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text`` (in every form: :func:`secret_forms`)
    with ``***`` and mask URL credentials."""
    secret_set = frozenset(secrets)
    if len(text) <= _CACHED_TEXT:
        return _mask_short_text(text, secret_set)
    return _mask_text(text, secret_set)


#: a plan masks the same values on every host (``json-file``, the mirror,
#: the proxy URL): values up to this long are remembered per secret set, at
#: most :data:`_MASKED_CACHE` of them (a few MB at most)
_CACHED_TEXT = 512
_MASKED_CACHE = 8192


@functools.lru_cache(maxsize=_MASKED_CACHE)
def _mask_short_text(text: str, secrets: frozenset[str]) -> str:
    return _mask_text(text, secrets)


def _mask_text(text: str, secrets: frozenset[str]) -> str:
    for secret, whole_word in _maskers(secrets):
        if secret not in text:
            continue
        text = text.replace(secret, MASK) if whole_word is None else whole_word.sub(MASK, text)
    return mask_url_credentials(text)


def secrets_in_place(live: Any, target: Any, secrets: Iterable[str]) -> set[str]:
    """Values of ``live`` (a host's current file) that sit where ``target``
    renders a secret: the previous password in the proxy URL after a
    rotation is a secret too, although no lookup returned it. Where the
    target's string is ``prefix + secret + suffix`` and the live one has the
    same prefix and suffix, what lies between is a secret; a live string at
    that place that does not fit is a secret whole."""
    known = [s for s in secrets if len(s) >= MIN_SUBSTRING_SECRET]
    found: set[str] = set()

    def walk(old: Any, new: Any) -> None:
        if isinstance(new, Mapping) and isinstance(old, Mapping):
            for key, value in new.items():
                if key in old:
                    walk(old[key], value)
        elif isinstance(new, list) and isinstance(old, list):
            for old_item, new_item in zip(old, new, strict=False):
                walk(old_item, new_item)
        elif isinstance(new, str) and isinstance(old, str) and old != new:
            for secret in known:
                at = new.find(secret)
                if at < 0:
                    continue
                prefix, suffix = new[:at], new[at + len(secret) :]
                fits = len(old) >= len(prefix) + len(suffix)
                if fits and old.startswith(prefix) and old.endswith(suffix):
                    found.add(old[len(prefix) : len(old) - len(suffix)])
                else:
                    found.add(old)

    walk(live, target)
    return {s for s in found if s}


def mask_data(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of JSON-like ``value`` with secrets masked in every string
    (mapping keys included)."""
    secret_set = frozenset(s for s in secrets if s)

    def mask_str(text: str) -> str:
        if text in secret_set:
            return MASK
        return mask_text(text, secret_set)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return mask_str(item)
        if isinstance(item, Mapping):
            return {mask_str(str(k)): walk(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        return item

    return walk(value)


def canary(value: str) -> str:
    """A stand-in for ``value`` that differs from it in every character but
    keeps each character's class (digits, lower and upper case letters), so
    that templates transform it the same way (``|int``, ``|upper``)."""
    out = []
    for c in value:
        if c.isascii() and c.isdigit():
            out.append(str((int(c) + 5) % 10))
        elif c.isascii() and c.isalpha():
            base = ord("a") if c.islower() else ord("A")
            out.append(chr((ord(c) - base + 13) % 26 + base))
        else:
            out.append("-" if c == "_" else "_")
    return "".join(out)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def derived_secrets(text: str, other: str) -> set[str]:
    """What differs between ``text`` (rendered with the secrets) and
    ``other`` (rendered with their canaries), line by line: per changed line
    the part between the common prefix and suffix; whole lines where the
    line structure itself changed."""
    found: set[str] = set()
    lines, other_lines = text.split("\n"), other.split("\n")
    matcher = difflib.SequenceMatcher(None, lines, other_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            for line, other_line in zip(lines[i1:i2], other_lines[j1:j2], strict=True):
                head = _common_prefix(line, other_line)
                tail = _common_prefix(line[head:][::-1], other_line[head:][::-1])
                found.add(line[head : len(line) - tail])
        else:
            found |= {line.strip() for line in lines[i1:i2]}
    return {form for span in found if span for form in (span, _unquoted(span))}


def _unquoted(span: str) -> str:
    """``span`` as a JSON (or YAML double-quoted) string means it: the value
    the parsed document holds."""
    if "\\" not in span:
        return span
    try:
        value = json.loads(f'"{span}"')
    except ValueError:
        return span
    return value if isinstance(value, str) else span


class SecretRegistry:
    """The secrets seen in this run (every value a lookup returned)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = {v for v in values if v}

    def add(self, value: str) -> None:
        if value:
            self._values.add(value)

    def update(self, values: Iterable[str]) -> None:
        for value in values:
            self.add(value)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def mask(self, text: str) -> str:
        return mask_text(text, self._values)

    def mask_data(self, value: Any) -> Any:
        return mask_data(value, self._values)


_MISSING = object()


def repo_name(name: str) -> str:
    """A path ``file()`` was given, as its name in the repo (``certs/ca.pem``)."""
    return posixpath.normpath(name.replace("\\", "/"))


class Lookups:
    """Resolves ``env()`` and ``file()`` for one run, caching what it read.

    The repo decides what its profiles may read, and nothing else is read:
    ``env(NAME)`` only for the names inventory.yaml declares
    (``secrets: {env: [...]}``, passed as ``allowed_env``); ``file(PATH)``
    only for relative paths that stay inside ``base_dir`` (the repo) once
    symlinks are followed.

    Each call returns the value and the caller records it as a secret; errors
    are :class:`SecretLookupError` without a location (the renderer adds the
    template line and host)."""

    #: True where every lookup answers a stand-in, never the value (lint)
    stand_in = False

    def __init__(
        self,
        base_dir: Path,
        environ: Mapping[str, str] | None = None,
        *,
        allowed_env: Iterable[str] = (),
    ) -> None:
        self.base_dir = base_dir
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.allowed_env = frozenset(allowed_env)
        self._files: dict[Path, str] = {}
        #: every repo file asked for (by ``file()`` or :meth:`file_path`), by
        #: its name in the repo (``certs/ca.pem``): what the repo's hash covers
        self.read: dict[str, Path] = {}
        #: the names among them read as secrets (by ``file()``: a profile's
        #: lookup, a registry's ``client_key_file``): the repo's hash records
        #: a digest of them that is expensive to guess
        self.secret_names: set[str] = set()

    def env_name(self, name: object) -> str:
        """``name`` if profiles may read it; else the error that says why not."""
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise SecretLookupError(
                f"env() needs an environment variable name, got {name!r}",
                hint='write env("PROXY_PASSWORD")',
            )
        if name not in self.allowed_env:
            raise SecretLookupError(
                f"env({name!r}) reads a variable inventory.yaml does not declare",
                hint=f"profiles read only declared variables: add it to inventory.yaml, "
                f"secrets: {{env: [{name}]}}",
            )
        return name

    def env(self, name: object, default: object = _MISSING) -> str:
        name = self.env_name(name)
        value = self.environ.get(name)
        if value is not None:
            return value
        if default is _MISSING:
            raise SecretLookupError(
                f"environment variable {name} is not set",
                hint=f"export {name}=... before running fleetcfg, "
                f'or give a default: env("{name}", "...")',
            )
        return str(default)

    def file_path(self, name: object) -> Path:
        """The file ``file(name)`` reads: relative to the repo and inside it
        after following symlinks; else the error that says why not."""
        if not isinstance(name, str) or not name:
            raise SecretLookupError(f"file() needs a path, got {name!r}")
        hint = 'write a path relative to the folder of inventory.yaml: file("secrets/token")'
        if name.startswith("~") or Path(name).is_absolute():
            raise SecretLookupError(
                f"file({name!r}): the path must be relative to the repo", hint=hint
            )
        root = self.base_dir.resolve()
        path = (self.base_dir / name).resolve()
        if not path.is_relative_to(root):
            raise SecretLookupError(
                f"file({name!r}) leads outside the repo (through '..' or a symlink)", hint=hint
            )
        if ".git" in path.relative_to(root).parts or ".git" in Path(name).parts:
            # git's own folder is no file of the repo: the checkout's settings,
            # and in CI its credentials (actions/checkout's extraheader token)
            raise SecretLookupError(
                f"file({name!r}) reads git's own folder .git, not a file of the repo", hint=hint
            )
        self.read[repo_name(name)] = path
        return path

    def file(self, name: object) -> str:
        path = self.file_path(name)
        self.secret_names.add(repo_name(str(name)))
        cached = self._files.get(path)
        if cached is not None:
            return cached
        try:
            text = read_bounded(path, TEXT_LIMIT).decode("utf-8")
        except FileNotFoundError:
            raise SecretLookupError(
                f"secret file {name} not found (looked for {path})",
                hint="create it on the machine that runs fleetcfg; paths are relative "
                "to the folder of inventory.yaml",
            ) from None
        except UnicodeDecodeError:
            raise SecretLookupError(f"secret file {name} is not UTF-8 text") from None
        except OSError as exc:
            raise SecretLookupError(f"cannot read secret file {name}: {exc.strerror}") from None
        value = text.removesuffix("\n").removesuffix("\r")
        self._files[path] = value
        return value


#: key paths whose values are never shown (config.json credentials)
SECRET_PATHS: tuple[Loc, ...] = (("auths",), ("HttpHeaders",))
#: their top-level keys as the docker CLI matches them: Go's encoding/json
#: takes "Auths" or "httpHeaders" for them too
_SECRET_KEYS_FOLDED = frozenset(str(p[0]).casefold() for p in SECRET_PATHS)


def is_secret_path(loc: Loc) -> bool:
    """Whether the value at ``loc`` is never shown: below a key the docker
    CLI reads as ``auths`` or ``HttpHeaders``, however its case is written."""
    return bool(loc) and isinstance(loc[0], str) and loc[0].casefold() in _SECRET_KEYS_FOLDED


def mask_value(loc: Loc, value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` as it may be shown at ``loc``."""
    if is_secret_path(loc):
        return MASK if not isinstance(value, Mapping) else dict.fromkeys(value, MASK)
    return mask_data(value, secrets)


def mask_document(data: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of a whole config with every secret masked."""
    secrets = tuple(secrets)
    return {key: mask_value((key,), value, secrets) for key, value in data.items()}
