"""``fleetcfg bundle``: the repo (inventory.yaml, profiles/ and every other
repo file the hosts read: registry certificates, ``file()`` lookups) as one
signed file that ``fleetcfg converge --bundle`` verifies **before** anything of
it reaches the disk.

A bundle is a gzip'd tar of regular files: ``fleetcfg-bundle.json`` (the
manifest: the revision and the sha256 and size of every other member),
``fleetcfg-bundle.sig`` (an Ed25519 signature over the manifest and the public
key that made it) and the repo's files, by their path in the repo.
Verification reads the whole tar in memory, bounded at each step: the file
(a regular file of at most :data:`MAX_BYTES`, :func:`read_bundle`), the tar
inside it (inflated at most to twice that: a few KB of gzip can inflate to
gigabytes, and tarfile reads a header whole), its members (at most
:data:`MAX_MEMBERS` files and folders, their bytes together at most
:data:`MAX_BYTES`). A member that is not a regular file or a folder (links,
devices, fifos), a name that is absolute or holds ``..``, ``.``, an empty
part or a backslash, a duplicate, a name that is both a file and a folder, a
missing or wrong signature, a member whose sha256 or size differs from the
manifest (or that it does not list), or a revision older than the last one
applied is refused, and nothing is written. Only then :func:`unpack` writes
the verified bytes (not the tar) to a folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fleetcfg.core.boundedread import read_regular
from fleetcfg.core.errors import FleetcfgError
from fleetcfg.host.pull import Revision, older_revision

MANIFEST = "fleetcfg-bundle.json"
SIGNATURE = "fleetcfg-bundle.sig"
#: signed together with the manifest, so a signature made for something else never fits
CONTEXT = b"fleetcfg-bundle-v1\0"
#: the most a bundle file and its members together may hold
MAX_BYTES = 64 * 1024 * 1024
#: the most members (files and folders) a bundle may have
MAX_MEMBERS = 50_000
DEFAULT_TRUSTED_KEYS = "/etc/fleetcfg/trusted-keys"


class BundleError(FleetcfgError):
    """A bundle that must not be used (nothing of it was written)."""


@dataclass(frozen=True)
class VerifiedBundle:
    revision: Revision
    #: relative path -> content, every one checked against the signed manifest
    files: Mapping[str, bytes]


def _public_line(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """An unencrypted OpenSSH (or PEM) Ed25519 private key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(
            f"cannot read the signing key: {exc.strerror or exc}", file=str(path)
        ) from None
    try:
        key: Any = (
            serialization.load_ssh_private_key(data, password=None)
            if data.lstrip().startswith(b"-----BEGIN OPENSSH")
            else serialization.load_pem_private_key(data, password=None)
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BundleError(
            f"not an unencrypted Ed25519 private key ({exc}); make one with "
            "ssh-keygen -t ed25519 -N '' -f KEY",
            file=str(path),
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError("the signing key must be Ed25519 (ssh-keygen -t ed25519)", file=str(path))
    return key


def load_trusted_keys(path: Path) -> list[Ed25519PublicKey]:
    """The keys this host trusts: one OpenSSH public key a line
    (``ssh-ed25519 AAAA... comment``; ``#`` comments and blank lines skipped)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BundleError(
            f"cannot read the trusted keys: {exc.strerror or exc} (one ssh-ed25519 public key "
            "a line, e.g. the signing key's .pub)",
            file=str(path),
        ) from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            key = serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
        except (ValueError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise BundleError("not an ssh-ed25519 public key", file=str(path), line=number)
        keys.append(key)
    if not keys:
        raise BundleError(
            "no trusted key in the file: every bundle would be refused", file=str(path)
        )
    return keys


def make_bundle(files: Mapping[str, bytes], revision: Revision, key: Ed25519PrivateKey) -> bytes:
    """The signed bundle of ``files`` (relative path -> content)."""
    for name in files:
        _check_name(name, "bundle")
    _check_folders(list(files), "bundle")
    manifest = json.dumps(
        {
            "format": 1,
            "revision": {"commit": revision.commit, "time": revision.time},
            "files": {
                name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                for name, data in sorted(files.items())
            },
        },
        indent=2,
        sort_keys=True,
    ).encode()
    signature = json.dumps(
        {
            "key": _public_line(key.public_key()),
            "signature": base64.b64encode(key.sign(CONTEXT + manifest)).decode(),
        }
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        members = [(MANIFEST, manifest), (SIGNATURE, signature), *sorted(files.items())]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, revision.time
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _check_name(name: str, source: str) -> None:
    path = PurePosixPath(name)
    if (
        not name
        or path.is_absolute()
        or any(p in ("..", ".", "") for p in name.split("/"))
        or "\\" in name
        or name in (MANIFEST, SIGNATURE)
    ):
        raise BundleError(
            f"bundle member {name!r} is outside the repo (absolute, '..', '.', an empty "
            "part or a backslash): refused, nothing was unpacked",
            file=source,
        )


def _check_folders(names: Collection[str], source: str) -> None:
    """No name is also the folder of another (``certs`` and ``certs/ca.pem``)."""
    folders = {str(parent) for name in names for parent in PurePosixPath(name).parents}
    clash = sorted(set(names) & folders)
    if clash:
        raise BundleError(
            f"bundle member {clash[0]!r} is both a file and a folder: refused", file=source
        )


def read_bundle(path: Path) -> bytes:
    """The bytes of the bundle file: a regular file of at most
    :data:`MAX_BYTES` (a device, a named pipe or a download that never
    ended is refused without being read whole)."""
    try:
        return read_regular(path, MAX_BYTES)
    except OSError as exc:
        raise BundleError(
            f"cannot read the bundle: {exc.strerror or exc}: refused", file=str(path)
        ) from None


_CHUNK = 1024 * 1024


def _inflate(data: bytes, source: str) -> io.BytesIO:
    """The tar inside ``data`` (gzip, one member or several one after the
    other), refused as soon as it inflates past twice :data:`MAX_BYTES`
    (the members' limit and room for their headers and padding)."""
    limit = 2 * MAX_BYTES
    tar = io.BytesIO()
    rest = data
    try:
        while rest.strip(b"\0"):
            gz = zlib.decompressobj(wbits=31)  # gzip only
            while rest and not gz.eof:
                tar.write(gz.decompress(rest, min(_CHUNK, limit + 1 - tar.tell())))
                if tar.tell() > limit:
                    raise BundleError(
                        f"bundle unpacks to more than {limit} bytes: refused, nothing was unpacked",
                        file=source,
                    )
                rest = gz.unconsumed_tail
            if not gz.eof:
                raise BundleError("the bundle is truncated (gzip): refused", file=source)
            rest = gz.unused_data
    except zlib.error as exc:
        raise BundleError(f"not a readable bundle (gzip'd tar): {exc}", file=source) from None
    tar.seek(0)
    return tar


def _read_members(data: bytes, source: str) -> dict[str, bytes]:
    """Every member's bytes, read in memory; refuses anything but regular
    files and folders inside the bundle's own names."""
    if len(data) > MAX_BYTES:
        raise BundleError(f"bundle larger than {MAX_BYTES} bytes: refused", file=source)
    members: dict[str, bytes] = {}
    total = 0
    inflated = _inflate(data, source)
    try:
        with tarfile.open(fileobj=inflated, mode="r:") as tar:
            for count, info in enumerate(tar, 1):
                if count > MAX_MEMBERS:
                    raise BundleError(
                        f"bundle has more than {MAX_MEMBERS} members: refused", file=source
                    )
                name = info.name.removesuffix("/") if info.isdir() else info.name
                if not (info.isreg() or info.isdir()):
                    kind = "link" if info.issym() or info.islnk() else "device or fifo"
                    raise BundleError(
                        f"bundle member {info.name!r} is a {kind}: refused, nothing was unpacked",
                        file=source,
                    )
                if name in (MANIFEST, SIGNATURE) and info.isreg():
                    pass
                else:
                    _check_name(name, source)
                if info.isdir():
                    continue
                if name in members:
                    raise BundleError(f"bundle member {name!r} appears twice: refused", file=source)
                total += info.size
                if total > MAX_BYTES:
                    raise BundleError(f"bundle unpacks to more than {MAX_BYTES} bytes", file=source)
                handle = tar.extractfile(info)
                members[name] = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"not a readable bundle (gzip'd tar): {exc}", file=source) from None
    return members


def _check_signature(
    manifest: bytes, signature: bytes | None, trusted: Sequence[Ed25519PublicKey], source: str
) -> None:
    if signature is None:
        raise BundleError("the bundle is not signed: refused, nothing was unpacked", file=source)
    try:
        record = json.loads(signature)
        raw = base64.b64decode(record["signature"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BundleError("unreadable bundle signature: refused", file=source) from None
    for key in trusted:
        try:
            key.verify(raw, CONTEXT + manifest)
        except InvalidSignature:
            continue
        return
    raise BundleError(
        "the bundle's signature is not from a key this host trusts (or the manifest was "
        "changed): refused, nothing was unpacked",
        file=source,
    )


def _manifest(data: bytes, source: str) -> tuple[Revision, dict[str, dict[str, Any]]]:
    try:
        doc = json.loads(data)
        revision = Revision(str(doc["revision"]["commit"]), int(doc["revision"]["time"]))
        files = dict(doc["files"])
    except (ValueError, KeyError, TypeError):
        raise BundleError("unreadable bundle manifest: refused", file=source) from None
    return revision, files


def verify_bundle(
    data: bytes,
    trusted: Sequence[Ed25519PublicKey],
    *,
    last: Revision | None,
    source: str,
) -> VerifiedBundle:
    """Check ``data`` completely (structure, signature, every checksum, the
    revision) without writing anything; raise :class:`BundleError`."""
    members = _read_members(data, source)
    manifest = members.pop(MANIFEST, None)
    if manifest is None:
        raise BundleError(f"no {MANIFEST} in the bundle: refused", file=source)
    _check_signature(manifest, members.pop(SIGNATURE, None), trusted, source)
    revision, listed = _manifest(manifest, source)
    if set(listed) != set(members):
        extra = sorted(set(members) ^ set(listed))
        raise BundleError(
            f"bundle members and manifest differ ({', '.join(extra)}): refused", file=source
        )
    for name, content in members.items():
        entry = listed[name]
        if (
            not isinstance(entry, dict)
            or entry.get("sha256") != hashlib.sha256(content).hexdigest()
            or entry.get("size") != len(content)
        ):
            raise BundleError(
                f"bundle member {name!r} does not match the manifest's sha256: refused, "
                "nothing was unpacked",
                file=source,
            )
    if "inventory.yaml" not in members:
        raise BundleError("no inventory.yaml in the bundle: refused", file=source)
    _check_folders(list(members), source)
    refusal = older_revision(revision, last)
    if refusal is not None:
        raise BundleError(refusal, file=source)
    return VerifiedBundle(revision, members)


def unpack(bundle: VerifiedBundle, dest: Path) -> Path:
    """Write the verified files under ``dest`` (an empty private folder);
    returns the inventory's path."""
    for name, content in sorted(bundle.files.items()):
        path = dest.joinpath(*PurePosixPath(name).parts)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with path.open("xb") as out:  # never through an existing file or link
            out.write(content)
        path.chmod(0o600)
    return dest / "inventory.yaml"
