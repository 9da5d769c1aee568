"""The SelfSign CA (`INTERNAL:SELF`): each request's certificate signed with its own key.

As certmonger's submit-so.c does: issuer = subject, notBefore = now, notAfter = now +
`[selfsign] validity_period`, version 3, the CSR's requested extensions copied as they
are, basicConstraints CA:FALSE (critical) added when the CSR has none.  The serial comes
from the CA record (`ca_internal_serial`), handed out by the engine.

Not supported: `[selfsign] populate_unique_id` (subject/issuer unique IDs), which the
`cryptography` certificate builder cannot write.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from ..crypto import csr as csrmod
from ..crypto import keys
from .base import CABackend, CADataOp, CADataOutcome, OutcomeKind, Submission, SubmitOutcome

IDENTITY = "SelfSign (certmonger 0.79.17)"
DEFAULT_VALIDITY = 365 * 86400


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(seconds), tz=datetime.UTC)


def copy_requested_extensions(
    builder: x509.CertificateBuilder, request: x509.CertificateSigningRequest,
    skip: frozenset[str] = frozenset(),
) -> tuple[x509.CertificateBuilder, set[str]]:
    """Add a CSR's requested extensions to a certificate, byte for byte and in order.

    Extensions whose OID is in `skip` are left out.  Returns the builder and the OIDs added.
    """
    added: set[str] = set()
    for ext in csrmod.requested_extensions(request):
        if ext.oid in skip or ext.oid in added:
            continue
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(ext.oid), ext.value),
            critical=ext.critical,
        )
        added.add(ext.oid)
    return builder, added


def _matching_pair(
    csr_pem: str, key_pem: bytes
) -> tuple[x509.CertificateSigningRequest, keys.PrivateKey]:
    request = csrmod.load_csr(csr_pem)
    key = keys.load_private_key(key_pem)
    if keys.spki_der(key) != request.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValueError("the signing request was not made with this key")
    return request, key


def self_sign(
    csr_pem: str, key_pem: bytes, serial: int, not_before: float, validity: int,
    digest: str = "sha256",
) -> str:
    """A PEM certificate for the CSR, issued by its own subject and signed with `key_pem`.

    ValueError when the CSR cannot be read or was not made with `key_pem`'s key.
    """
    request, key = _matching_pair(csr_pem, key_pem)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(request.subject)
        .public_key(request.public_key())
        .serial_number(serial)
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_before + validity))
    )
    builder, added = copy_requested_extensions(builder, request)
    if ExtensionOID.BASIC_CONSTRAINTS.dotted_string not in added:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                        critical=True)
    cert = builder.sign(key, csrmod.hash_algorithm(digest))
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


class SelfSignBackend(CABackend):
    """Signs each request's CSR with the request's own key."""

    def __init__(
        self,
        next_serial: Callable[[], int],
        validity: int = DEFAULT_VALIDITY,
        digest: str = "sha256",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._next_serial = next_serial
        self._validity = validity
        self._digest = digest
        self._clock = clock

    async def submit(self, submission: Submission) -> SubmitOutcome:
        """Issue at once; a request without a key or with a foreign CSR is rejected."""
        if not submission.key_pem:
            # certmonger cannot self-sign a request whose key storage is NONE.
            return SubmitOutcome(OutcomeKind.UNCONFIGURED,
                                 error="There is no private key to sign the request with.")
        try:
            # Checked first so that a request that cannot be signed uses up no serial.
            await asyncio.to_thread(_matching_pair, submission.csr, submission.key_pem)
        except ValueError as exc:
            return SubmitOutcome(OutcomeKind.REJECTED, error=f"Unable to sign: {exc}")
        now = self._clock()
        serial = self._next_serial()
        try:
            pem = await asyncio.to_thread(
                self_sign, submission.csr, submission.key_pem, serial, now, self._validity,
                self._digest,
            )
        except ValueError as exc:
            return SubmitOutcome(OutcomeKind.REJECTED, error=f"Unable to sign: {exc}")
        return SubmitOutcome(OutcomeKind.ISSUED, cert=pem)

    async def fetch_data(self, op: CADataOp) -> CADataOutcome:
        """Only IDENTIFY is answered; the other phases are disabled, as for certmonger."""
        if op is CADataOp.IDENTIFY:
            return CADataOutcome(OutcomeKind.ISSUED, text=IDENTITY)
        return CADataOutcome(OutcomeKind.NOT_SUPPORTED)
