"""Digests of files that hold credentials: never their plain sha256 (an
offline guess of a short password would verify against it), one scrypt per
secret set, and records of an older fleetcfg still compare as plain sha256."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from fleetcfg.core import filedigest
from fleetcfg.core.filedigest import (
    KEYED,
    digest_matches,
    file_digest,
    secret_values,
    short_digest,
)
from fleetcfg.core.hashing import sha256_hex


def daemon_json(password: str, host: int = 0) -> bytes:
    proxy = f"http://svc:{password}@proxy.corp:3128"
    return json.dumps({"labels": [f"host={host}"], "proxies": {"http-proxy": proxy}}).encode()


CLIENT = json.dumps({"auths": {"registry.corp": {"auth": "c3ZjOmh1bnRlcjI="}}}).encode()
KEY = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA\n-----END EC PRIVATE KEY-----\n"


@pytest.fixture(autouse=True)
def fresh_keys() -> None:
    filedigest.KEYS.clear()


@pytest.mark.parametrize(
    "data", [daemon_json("hunter2"), CLIENT, KEY], ids=["proxy", "auths", "key"]
)
def test_a_file_that_holds_credentials_has_a_keyed_digest_not_its_sha256(data: bytes) -> None:
    digest = file_digest(data)
    assert digest.startswith(KEYED)
    assert sha256_hex(data)[:12] not in digest
    assert digest_matches(digest, data)
    assert not digest_matches(digest, data + b" ")
    assert short_digest(digest).startswith("hmac:")


def test_the_same_file_with_another_password_has_another_digest() -> None:
    assert file_digest(daemon_json("hunter2")) != file_digest(daemon_json("hunter3"))
    assert "svc:hunter2" in secret_values(daemon_json("hunter2"))


def test_a_file_without_credentials_keeps_its_plain_sha256() -> None:
    data = b'{"debug": true, "registry-mirrors": ["https://mirror.corp"]}\n'
    assert file_digest(data) == sha256_hex(data)
    assert short_digest(file_digest(data)) == sha256_hex(data)[:12]


def test_a_secret_the_caller_knows_of_keys_the_digest_on_the_whole_file() -> None:
    data = b'{"labels": ["token=not-a-url"]}\n'
    digest = file_digest(data, credentials=True)
    assert digest.startswith(KEYED) and digest_matches(digest, data)


def test_a_plain_sha256_an_older_fleetcfg_recorded_still_compares_as_before() -> None:
    data = daemon_json("hunter2")
    assert digest_matches(sha256_hex(data), data)
    assert not digest_matches(sha256_hex(data), data + b"\n")
    assert digest_matches(None, None) and not digest_matches(None, data)


def _count_scrypts(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The material of every scrypt run from now on."""
    runs: list[bytes] = []
    real = filedigest.scrypt

    def counting(data: bytes, salt: bytes) -> bytes:
        runs.append(data)
        return real(data, salt)

    monkeypatch.setattr(filedigest, "scrypt", counting)
    return runs


def test_a_fleet_that_shares_a_password_costs_one_scrypt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = _count_scrypts(monkeypatch)
    digests = {file_digest(daemon_json("hunter2", host)) for host in range(2000)}
    assert len(digests) == 2000
    assert len(runs) == 1
    file_digest(daemon_json("another-password"))
    assert len(runs) == 2


def test_threads_that_need_the_same_key_share_one_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _count_scrypts(monkeypatch)
    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(lambda n: file_digest(daemon_json("hunter2", n)), range(64)))
    assert len(digests) == 64 and len(runs) == 1
