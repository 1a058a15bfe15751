"""Ed25519 key pairs: made, loaded and identified by securesystemslib and ``cryptography``.

The private key never leaves its file except into a signer object: it is not printed, logged or
passed to a child process. Key ids are securesystemslib's (the SHA-256 of the canonical public
key), so any DSSE verifier that speaks securesystemslib finds the same id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.errors import SigningKeyError

PRIVATE_NAME = "govern-signing.key"
PUBLIC_NAME = "govern-signing.pub"
SIGNING_KEY_ENV = "GOVERN_SIGNING_KEY"
"""A path to the private key file, like ``--signing-key``; never the key itself."""


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    keyid: str


def generate_keypair(out_dir: Path) -> KeyPair:
    """Write a new Ed25519 pair into ``out_dir``; refuse to overwrite an existing key.

    The private file is created with mode 0600 in the same call that creates it, so there is no
    moment when another user could read it.
    """
    from securesystemslib.signer import CryptoSigner

    out_dir.mkdir(parents=True, exist_ok=True)
    private, public = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    for path in (private, public):
        if path.exists():
            raise SigningKeyError(f"{path} already exists; choose another --out or move it away")
    signer = CryptoSigner.generate_ed25519()
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SigningKeyError(f"cannot create {private}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(signer.private_bytes)
    public.write_bytes(public_pem(signer.public_key))
    return KeyPair(private, public, signer.public_key.keyid)


def public_pem(key: Any) -> bytes:
    """A securesystemslib public key as a PEM SubjectPublicKeyInfo file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = bytes.fromhex(key.keyval["public"])
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )


def _read_key(file: Path, what: str) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{what} {file}: {exc.strerror or exc}") from None


def load_signer(path: str | os.PathLike[str]) -> Any:
    """A securesystemslib signer for the private key in ``path``; the error never shows the key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    file = Path(path)
    data = _read_key(file, "signing key")
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(
            f"signing key {file}: not an unencrypted PEM private key (make one with govern keygen)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"signing key {file}: not an Ed25519 key (make one with govern keygen)"
        )
    return CryptoSigner(key)


def load_public_key(path: str | os.PathLike[str]) -> Any:
    """A securesystemslib public key (with its key id) from a PEM file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    file = Path(path)
    data = _read_key(file, "public key")
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError):
        raise SigningKeyError(f"public key {file}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"public key {file}: not an Ed25519 key")
    return SSlibKey.from_crypto(key)
