"""ed25519 key pairs in OpenSSH format (host keys and the fleet's client key).

Generated in-process: ``ssh-keygen`` would cost a process per host, which
dominates start-up for fleets of hundreds of hosts."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_openssh: bytes  # "-----BEGIN OPENSSH PRIVATE KEY-----..." (unencrypted)
    public_line: str  # "ssh-ed25519 AAAA... comment"

    @property
    def public_blob(self) -> str:
        """``ssh-ed25519 AAAA...`` without the comment (what known_hosts holds)."""
        return " ".join(self.public_line.split()[:2])


def generate_ed25519(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.OpenSSH,
        encryption_algorithm=serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        encoding=serialization.Encoding.OpenSSH,
        format=serialization.PublicFormat.OpenSSH,
    )
    return KeyPair(private_openssh=private, public_line=f"{public.decode()} {comment}")
