"""What fleetcfg records and prints about a file's content: its digest.

A plain sha256 for most files. A file that holds credentials (a proxy URL
with a password in daemon.json or the systemd drop-in, ``auths`` in a
client's config.json, a client key in certs.d) is masked in every diff, but a
plain sha256 of it would still give its secret away: plans are CI artifacts
and state.json travels on host command lines, and with everything else in
the file known, hashing guesses of a short password finds it offline. Such a
file's digest is ``hmac-sha256:<hex>``: HMAC-SHA256 of its bytes, keyed with
scrypt (:func:`scrypt`, 16 MiB and some 50 ms a guess) over the secret
values in it (the ones :mod:`fleetcfg.core.secrets` masks: URL userinfo, the
``auths`` and ``HttpHeaders`` of a config.json; a private key: the whole
file). Every guess costs a scrypt; fleetcfg pays one scrypt per distinct set
of secrets per process (a fleet that shares a proxy password: one for every
host), and an HMAC per file.

A digest is a function of the bytes alone, so plan and apply compare digests
as they compared sha256 (the same bytes, the same digest). A digest recorded
earlier (a saved plan, state.json) is compared in its own form
(:func:`digest_matches`): a plain sha256 recorded by an older fleetcfg is
still checked as a plain sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

from fleetcfg.core.hashing import sha256_hex
from fleetcfg.core.secrets import SECRET_PATHS, is_secret_path
from fleetcfg.core.urlcreds import url_credentials

#: how the digest of a file that holds credentials starts
KEYED = "hmac-sha256:"
#: scrypt's cost: 16 MiB and some 50 ms a guess (its authors' interactive setting)
SCRYPT_COST = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_SALT = b"fleetcfg credentials file digest v1"
#: a PEM private key (a certs.d client key): the whole file is the secret
_PRIVATE_KEY = "PRIVATE KEY-----"
#: config.json keys whose values are credentials, as JSON text names them (in
#: any case: the docker CLI matches keys case-insensitively), and the escape
#: that may spell one in JSON text
_SECRET_KEYS = (*(f'"{str(p[0]).casefold()}"' for p in SECRET_PATHS), "\\u")


def holds_private_key(data: bytes | None) -> bool:
    """Whether ``data`` holds a PEM private key: the whole file is a secret."""
    return data is not None and _PRIVATE_KEY.encode() in data


def scrypt(data: bytes, salt: bytes) -> bytes:
    """scrypt of ``data`` at :data:`SCRYPT_COST` (deterministic: the same on
    every machine)."""
    return hashlib.scrypt(data, salt=salt, **SCRYPT_COST)


def secret_values(data: bytes) -> tuple[str, ...]:
    """The credentials in a file's bytes, sorted (empty: it holds none):
    every URL's userinfo, the values of a JSON document's secret keys
    (:func:`~fleetcfg.core.secrets.is_secret_path`), or the whole text of a
    private key."""
    text = data.decode("utf-8", "replace")
    if _PRIVATE_KEY in text:
        return (text,)
    found = set(url_credentials(text))
    folded = text.casefold()
    if any(key in folded for key in _SECRET_KEYS):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict):
            found.update(
                json.dumps(value, sort_keys=True)
                for key, value in document.items()
                if is_secret_path((key,))
            )
    return tuple(sorted(found))


class _Keys:
    """scrypt keys by their secret material, computed once per process:
    threads that need the same key wait for the first one's scrypt, threads
    that need different keys do not wait for each other. Kept by the
    material's sha256 (a whole file may be the material), at most LIMIT."""

    LIMIT = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[bytes, bytes] = {}
        self._computing: dict[bytes, threading.Lock] = {}

    def get(self, material: bytes) -> bytes:
        name = hashlib.sha256(material).digest()
        with self._lock:
            key = self._keys.get(name)
            if key is not None:
                return key
            computing = self._computing.setdefault(name, threading.Lock())
        with computing:
            with self._lock:
                key = self._keys.get(name)
            if key is None:
                key = scrypt(material, _SALT)
                with self._lock:
                    if len(self._keys) >= self.LIMIT:
                        self._keys.clear()
                    self._keys[name] = key
                    self._computing.pop(name, None)
            return key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


KEYS = _Keys()


def keyed_digest(data: bytes, secrets: tuple[str, ...] | None = None) -> str:
    """``hmac-sha256:<hex>`` of ``data``, keyed with scrypt over its
    secrets (``secrets``: :func:`secret_values` of ``data``, when the caller
    has them already; over the whole of ``data`` when none is found in it: a
    file that holds another kind of secret, e.g. an ``env()`` value)."""
    if secrets is None:
        secrets = secret_values(data)
    material = "\0".join(secrets).encode() if secrets else data
    return KEYED + hmac.new(KEYS.get(material), data, hashlib.sha256).hexdigest()


def file_digest(data: bytes, *, credentials: bool = False) -> str:
    """The digest fleetcfg records and prints for a file's bytes: keyed
    when they hold credentials (found in them, or ``credentials``: the
    caller knows of a secret in them), else a plain sha256."""
    secrets = secret_values(data)
    if credentials or secrets:
        return keyed_digest(data, secrets)
    return sha256_hex(data)


def digest_matches(recorded: str | None, data: bytes | None) -> bool:
    """Whether ``data`` (None: absent) is what ``recorded`` (None: absent)
    describes, in ``recorded``'s own form (a plain sha256 recorded by an
    older fleetcfg is compared as a plain sha256)."""
    if recorded is None or data is None:
        return recorded is None and data is None
    if is_keyed(recorded):
        return hmac.compare_digest(recorded, keyed_digest(data))
    return hmac.compare_digest(recorded, sha256_hex(data))


def is_keyed(digest: str | None) -> bool:
    """Whether ``digest`` is a keyed one (of a file that holds credentials)."""
    return digest is not None and digest.startswith(KEYED)


def short_digest(digest: str | None) -> str:
    """A digest in messages: 12 hex digits (``hmac:`` first for a keyed one)."""
    if not digest:
        return "absent"
    if is_keyed(digest):
        return "hmac:" + digest[len(KEYED) :][:12]
    return digest[:12]
