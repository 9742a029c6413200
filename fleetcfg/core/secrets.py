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
printed as ``http://user:***@proxy:3128``, wherever they came from. Values
shorter than 4 characters are masked only where they are a whole value or a
whole word, so that masking cannot mangle unrelated text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fleetcfg.core.errors import SecretLookupError
from fleetcfg.core.jsondoc import Loc

MASK = "***"
#: secrets shorter than this are masked only as whole values / whole words
MIN_SUBSTRING_SECRET = 4

_URL_CREDENTIALS = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"',]*):(?P<password>[^@/\s\"',]+)@"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def mask_url_credentials(text: str) -> str:
    """``http://user:pass@proxy:3128`` -> ``http://user:***@proxy:3128``."""
    if "@" not in text:
        return text
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('prefix')}:{MASK}@", text)


def holds_credentials(text: str, secrets: Iterable[str]) -> bool:
    """Whether ``text`` holds a URL with a password (``http://user:pass@...``)
    or any of ``secrets`` (what ``env()`` and ``file()`` returned): a file
    with such content must be readable by its owner only."""
    if _URL_CREDENTIALS.search(text):
        return True
    return mask_text(text, secrets) != text


def _escaped_forms(secret: str) -> set[str]:
    """The secret as written, and as it appears inside a JSON string."""
    forms = {secret}
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    if escaped != secret:
        forms.add(escaped)
    return forms


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text`` with ``***`` and mask URL credentials."""
    ordered = sorted({f for s in secrets if s for f in _escaped_forms(s)}, key=len, reverse=True)
    for secret in ordered:
        if secret not in text:
            continue
        if len(secret) >= MIN_SUBSTRING_SECRET:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", MASK, text)
    return mask_url_credentials(text)


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
        return path

    def file(self, name: object) -> str:
        path = self.file_path(name)
        cached = self._files.get(path)
        if cached is not None:
            return cached
        try:
            text = path.read_bytes().decode("utf-8")
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


def is_secret_path(loc: Loc) -> bool:
    return any(loc[: len(p)] == p for p in SECRET_PATHS)


def mask_value(loc: Loc, value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` as it may be shown at ``loc``."""
    if is_secret_path(loc):
        return MASK if not isinstance(value, Mapping) else dict.fromkeys(value, MASK)
    return mask_data(value, secrets)


def mask_document(data: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of a whole config with every secret masked."""
    secrets = tuple(secrets)
    return {key: mask_value((key,), value, secrets) for key, value in data.items()}
