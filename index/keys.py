"""The workspace's keys: the Ed25519 signing key of evidence bundles (the `cryptography` package), and the secret of
the keyed hashes that link seller accounts without keeping their contacts.

The private key lives in the workspace (`keys/ed25519.pem`, mode 0600) and is created on first use; bundles
carry the public key and its fingerprint so anyone can check them, and the fingerprint can be compared with
the one the workspace prints (`semblance info`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def load_or_create(home: Path) -> Ed25519PrivateKey:
    path = home / "keys" / "ed25519.pem"
    pem = _secret_file(
        path,
        lambda: Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def identifier_key(home: Path) -> bytes:
    """The workspace's secret for keyed hashes of sellers' contacts and payment accounts (`keys/identifiers.key`,
    32 random bytes, mode 0600, made on first use): the same value hashes alike in every sweep of this workspace."""
    return _secret_file(home / "keys" / "identifiers.key", lambda: os.urandom(32))


def _secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of a workspace secret, made by `make` on first use: written to a private temporary file (mode
    0600, fsynced) and linked into place, so a key another process made first is never replaced (what it signed
    or hashed must stay checkable) and a crash never leaves half a key."""
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(make())
        f.flush()
        os.fsync(f.fileno())
    with contextlib.suppress(FileExistsError):
        os.link(tmp, path)
    tmp.unlink()
    return path.read_bytes()


def existing_fingerprint(home: Path) -> str | None:
    """Fingerprint of the workspace's key if one was created (by a first report), else None."""
    path = home / "keys" / "ed25519.pem"
    return fingerprint(load_or_create(home).public_key()) if path.is_file() else None


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: short enough to read aloud, long enough to be unique."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
