"""The key-storage contract: where a request's key and certificate live.

A key store is chosen per request by its storage type (FILE, NSSDB).  Calls are blocking
(file or NSS tool I/O) and are run by the engine in a worker thread, one at a time per
storage target.

Rekey protocol (a pair swap): `write_key(..., marker=m)` stores a *candidate* key beside
the current one; `save_cert(..., marker=m)` then stores the certificate and promotes the
candidate in one step, so a crash leaves either the old key and old certificate or the
new key and new certificate.  With `marker=None` the key is written at the request's
own key location (first enrollment) and `save_cert` replaces only the certificate.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from ..model import Request


class KeyStoreError(Exception):
    """A key or certificate could not be read or written; `reason` picks the next state."""

    reason = "other"


class KeyStorePermissionError(KeyStoreError):
    """Permission denied: certmonger's NEED_*_PERMS states."""

    reason = "perms"


class KeyStorePinError(KeyStoreError):
    """A PIN is missing or wrong: certmonger's NEED_*_PIN states."""

    reason = "pin"


class KeyStoreTokenError(KeyStoreError):
    """The token is missing: certmonger's NEED_*_TOKEN states."""

    reason = "token"


@dataclass
class StoredKey:
    """A private key read back from storage, with what certmonger records about it."""

    pem: bytes  # unencrypted PKCS#8 PEM, for in-process signing
    key_type: str  # "RSA" or "EC"
    key_size: int  # RSA modulus bits, or EC curve bits (256, 384, 521)
    pubkey_info: str  # uppercase hex DER SubjectPublicKeyInfo
    pubkey: str  # uppercase hex of the bare public key (RSA: RSAPublicKey DER; EC: point)


class KeyStore(abc.ABC):
    """Reads and writes one storage type's keys and certificates."""

    @abc.abstractmethod
    def read_key(self, request: Request, marker: str | None = None) -> StoredKey | None:
        """The current key (or the candidate with `marker`); None when there is none."""

    @abc.abstractmethod
    def write_key(self, request: Request, key_pem: bytes, marker: str | None = None) -> None:
        """Store a newly generated key (`key_pem` unencrypted PKCS#8 PEM).

        With a marker, as a candidate beside the current key; without, at the key location.
        The key is encrypted with the request's PIN when it has one, and it is never
        readable by anyone but its owner, not even while it is being written.
        """

    @abc.abstractmethod
    def discard_candidate(self, request: Request, marker: str) -> None:
        """Remove a candidate key that will not be used."""

    @abc.abstractmethod
    def read_cert(self, request: Request) -> str | None:
        """The stored certificate as PEM (the first one), or None when there is none."""

    @abc.abstractmethod
    def save_cert(self, request: Request, cert_pem: str, marker: str | None = None) -> None:
        """Store a newly issued certificate, promoting the candidate key `marker` with it."""
