"""The daemon's side of SCEP enrollment (RFC 8894), as certmonger 0.79.17 divides it.

certmonger's `scep-submit` helper only does the HTTP.  The signed pkiMessages it sends
are built by the daemon, in state NEED_SCEP_DATA, after the helper exits with status 16
(certmonger `src/scepgen*.c`), and the certificate comes back inside an EnvelopedData
that the daemon opens with the request's key.  From top to bottom:

* choices: the content cipher and digest a CA's GetCACaps list calls for;
* what certmonger keeps per CSR: the transaction ID and the self-signed "minicert";
* pkiMessages: SignedData with the SCEP authenticated attributes (§3.2.1.2), made and
  read back (the PKCS#7 layer is `scep_pkcs7`);
* the message set certmonger stores (`scep_req`, `scep_gic` and their `_next` variants);
* the engine's hooks: `build_scep_messages`, `prepare_scep_submission` and
  `decrypt_submission_envelope`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..crypto import der
from ..crypto.keys import load_private_key, pem_armor, spki_der
from ..keystores.base import KeyStoreError, KeyStorePinError, KeyStoreTokenError
from ..machine import Outcome
from ..model import CA, Request
from .base import Submission
from .scep_pkcs7 import (
    CIPHERS,
    DIGESTS,
    ContentCipher,
    Digest,
    SCEPMessageError,
    attribute,
    cert_parts,
    csr_parts,
    decrypt_envelope,
    encode_time,
    envelope,
    pem_to_der,
    read_signed,
    rsa_public_key,
    sign_data,
)

if TYPE_CHECKING:
    from ..effects import ActionResult, Effects

__all__ = [
    "CIPHERS", "DIGESTS", "ContentCipher", "Digest", "MessageInputs", "MessageSet",
    "PkiMessage", "SCEPMessageError", "build_message_set", "build_minicert",
    "build_scep_messages", "choose_cipher", "choose_digest", "decrypt_submission_envelope",
    "fields_for_new_csr", "issuer_and_subject", "make_message_fields", "mark_messages_sent",
    "pkcs7_pem", "prepare_scep_submission", "read_pki_message", "scep_variables",
    "sign_pki_message", "transaction_id",
]

log = logging.getLogger(__name__)

# RFC 8894 §3.2.1.2: the SCEP authenticated attributes, under VeriSign's arc.
OID_MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
OID_PKI_STATUS = "2.16.840.1.113733.1.9.3"
OID_FAIL_INFO = "2.16.840.1.113733.1.9.4"
OID_SENDER_NONCE = "2.16.840.1.113733.1.9.5"
OID_RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
OID_TRANSACTION_ID = "2.16.840.1.113733.1.9.7"

# RFC 8894 §3.2.1.2 messageType values.
MESSAGE_CERT_REP = "3"
MESSAGE_PKCS_REQ = "19"
MESSAGE_CERT_POLL = "20"  # certmonger's GetCertInitial

# RFC 8894 §3.2.1.3 pkiStatus and §3.2.1.4 failInfo values.
STATUS_SUCCESS = "0"
STATUS_FAILURE = "2"
STATUS_PENDING = "3"
FAIL_INFO_NAMES = {"0": "badAlg", "1": "badMessageCheck", "2": "badRequest",
                   "3": "badTime", "4": "badCertId"}

NONCE_SIZE = 16  # certmonger's sender nonces are 16 random bytes


# --- algorithm choices ----------------------------------------------------------------

# Capability (or override) spellings, normalised, to cipher names.  certmonger takes the
# bare "AES" capability to mean AES-256 (RFC 8894 §3.5.2 only promises AES-128 with it,
# and every server that offers it does AES-256 as well).
_CIPHER_ALIASES = {"AES256": "AES256", "AES192": "AES192", "AES128": "AES128",
                   "AES": "AES256", "DES3": "DES3", "3DES": "DES3", "DESEDE3": "DES3",
                   "TRIPLEDES": "DES3", "DES": "DES"}
_CIPHER_PREFERENCE = ("AES256", "AES192", "AES128", "DES3", "DES")
DEFAULT_CIPHER = "AES256"
_DIGEST_PREFERENCE = ("SHA512", "SHA384", "SHA256", "SHA1", "MD5")
DEFAULT_DIGEST = "SHA256"


def _normalise(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def choose_cipher(capabilities: Iterable[str], override: str = "") -> ContentCipher:
    """The content cipher for a CA: its `scep_cipher` override, else the caps' best.

    certmonger 0.79.17 prefers AES-256 > AES-192 > AES-128 > DES3 > DES among the
    capabilities, and uses AES-256 when they name none.  An override it would not know
    is ignored.
    """
    if override.strip():
        name = _CIPHER_ALIASES.get(_normalise(override))
        if name is not None:
            return CIPHERS[name]
        log.warning("Ignoring unknown SCEP cipher %r", override)
    offered = {_CIPHER_ALIASES[n] for n in map(_normalise, capabilities) if n in _CIPHER_ALIASES}
    for name in _CIPHER_PREFERENCE:
        if name in offered:
            return CIPHERS[name]
    return CIPHERS[DEFAULT_CIPHER]


def choose_digest(capabilities: Iterable[str], override: str = "") -> Digest:
    """The signature digest for a CA: its `scep_digest` override, else the caps' best.

    certmonger 0.79.17 prefers SHA-512 > SHA-384 > SHA-256 > SHA-1 > MD5 among the
    capabilities, and uses SHA-256 when they name none.
    """
    if override.strip():
        digest = DIGESTS.get(_normalise(override))
        if digest is not None:
            return digest
        log.warning("Ignoring unknown SCEP digest %r", override)
    offered = {_normalise(c) for c in capabilities}
    for name in _DIGEST_PREFERENCE:
        if name in offered:
            return DIGESTS[name]
    return DIGESTS[DEFAULT_DIGEST]


# --- what certmonger keeps per CSR ----------------------------------------------------


def transaction_id(spki: bytes) -> str:
    """certmonger's SCEP transactionID: SHA-256 of the key's DER SPKI, in decimal.

    It depends only on the key, so a PKCSReq and the GetCertInitial polls that follow it
    carry the same one (RFC 8894 §3.2.1.1 asks for exactly that).
    """
    return str(int.from_bytes(hashlib.sha256(spki).digest(), "big"))


_SIGNATURE_OIDS = {
    ("RSA", "sha1"): "1.2.840.113549.1.1.5", ("RSA", "sha224"): "1.2.840.113549.1.1.14",
    ("RSA", "sha256"): "1.2.840.113549.1.1.11", ("RSA", "sha384"): "1.2.840.113549.1.1.12",
    ("RSA", "sha512"): "1.2.840.113549.1.1.13",
    ("EC", "sha1"): "1.2.840.10045.4.1", ("EC", "sha224"): "1.2.840.10045.4.3.1",
    ("EC", "sha256"): "1.2.840.10045.4.3.2", ("EC", "sha384"): "1.2.840.10045.4.3.3",
    ("EC", "sha512"): "1.2.840.10045.4.3.4",
}


def build_minicert(key_pem: bytes, subject: bytes, now: float,
                   hash_algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    """certmonger's "minicert": a bare self-signed certificate for the key, as DER.

    A request that holds no certificate yet signs its pkiMessages with it (RFC 8894
    §2.3).  As certmonger makes it: version 1, no extensions, the transaction ID as the
    serial number, the CSR's subject (`subject`, an encoded Name) as subject and issuer,
    valid from midnight UTC today for a hundred years.  RSA and EC keys.  (certmonger
    writes both dates as GeneralizedTime; RFC 5280 §4.1.2.5 wants UTCTime before 2050.)
    """
    key = load_private_key(key_pem)
    algorithm = hash_algorithm or hashes.SHA256()
    kind = "RSA" if isinstance(key, rsa.RSAPrivateKey) else (
        "EC" if isinstance(key, ec.EllipticCurvePrivateKey) else "")
    oid = _SIGNATURE_OIDS.get((kind, algorithm.name))
    if oid is None:
        raise SCEPMessageError(f"cannot sign a minicert with this key and {algorithm.name}")
    alg_id = der.sequence(der.oid(oid), der.tlv(der.NULL, b"")) if kind == "RSA" else \
        der.sequence(der.oid(oid))
    spki = spki_der(key)
    start = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0,
                                                     microsecond=0)
    try:
        end = start.replace(year=start.year + 100)
    except ValueError:  # 29 February, a century on, in a year that is not a leap year
        end = start.replace(year=start.year + 100, day=28)
    tbs = der.sequence(der.integer(int(transaction_id(spki))), alg_id, subject,
                       der.sequence(encode_time(start), encode_time(end)), subject, spki)
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        signature = key.sign(tbs, ec.ECDSA(algorithm))
    return der.sequence(tbs, alg_id, der.bit_string(signature))


# --- pkiMessages ----------------------------------------------------------------------


def _printable(text: str) -> bytes:
    return der.tlv(der.PRINTABLE_STRING, text.encode("ascii"))


def sign_pki_message(content: bytes, *, key_pem: bytes, signer_cert: bytes, digest: Digest,
                     message_type: str, transaction: str, sender_nonce: bytes,
                     signing_time: float, recipient_nonce: bytes = b"",
                     pki_status: str = "", fail_info: str = "",
                     extra_certs: Sequence[bytes] = ()) -> bytes:
    """A pkiMessage: PKCS#7 SignedData over `content` with the SCEP attributes (DER).

    RFC 8894 §3.2.1: signed by the requester's RSA key and `signer_cert` (which travels
    in the message, with `extra_certs`); the authenticated attributes hold messageType,
    transactionID and senderNonce (and recipientNonce, pkiStatus and failInfo when
    given, as a CertRep does) beside contentType, signingTime and messageDigest.
    """
    attributes = [
        attribute(OID_MESSAGE_TYPE, _printable(message_type)),
        attribute(OID_TRANSACTION_ID, _printable(transaction)),
        attribute(OID_SENDER_NONCE, der.tlv(der.OCTET_STRING, sender_nonce)),
    ]
    if recipient_nonce:
        attributes.append(attribute(OID_RECIPIENT_NONCE,
                                    der.tlv(der.OCTET_STRING, recipient_nonce)))
    if pki_status:
        attributes.append(attribute(OID_PKI_STATUS, _printable(pki_status)))
    if fail_info:
        attributes.append(attribute(OID_FAIL_INFO, _printable(fail_info)))
    return sign_data(content, key_pem=key_pem, signer_cert=signer_cert, digest=digest,
                     attributes=attributes, signing_time=signing_time,
                     extra_certs=extra_certs)


@dataclass
class PkiMessage:
    """A pkiMessage read back: its SCEP attributes, signed content and signer."""

    message_type: str
    transaction_id: str
    sender_nonce: bytes
    recipient_nonce: bytes
    pki_status: str
    fail_info: str
    content: bytes  # the signed data: an EnvelopedData, or empty
    digest: str  # the digest's name (DIGESTS)
    signer: bytes  # the signer's certificate, DER
    certificates: list[bytes]  # all it carries, DER


def read_pki_message(data: bytes) -> PkiMessage:
    """A pkiMessage's attributes and content, its signature checked (`read_signed`).

    Raises SCEPMessageError when it is not a well-formed, well-signed SignedData.
    """
    signed = read_signed(data)
    attributes = signed.attributes

    def text(oid: str) -> str:
        return attributes.get(oid, b"").decode("ascii", "replace")

    return PkiMessage(
        message_type=text(OID_MESSAGE_TYPE), transaction_id=text(OID_TRANSACTION_ID),
        sender_nonce=attributes.get(OID_SENDER_NONCE, b""),
        recipient_nonce=attributes.get(OID_RECIPIENT_NONCE, b""),
        pki_status=text(OID_PKI_STATUS), fail_info=text(OID_FAIL_INFO),
        content=signed.content, digest=signed.digest.name if signed.digest else "",
        signer=signed.signer, certificates=signed.certificates)


# --- certmonger's message set ---------------------------------------------------------


def issuer_and_subject(ca_cert: bytes, cert: bytes) -> bytes:
    """RFC 8894 §3.3.3 IssuerAndSubject for GetCertInitial: the CA's name, the requester's."""
    return der.sequence(cert_parts(ca_cert).subject, cert_parts(cert).subject)


@dataclass(frozen=True)
class MessageSet:
    """The pkiMessages certmonger stores for one try, DER (None when not made).

    `pkcs_req`/`get_cert_initial` (`scep_req`/`scep_gic`) are signed with the current key:
    with the certificate it holds, if any, else with the minicert.  While a new key is
    being tried, `*_rekey` (`scep_req_next`/`scep_gic_next`) are signed with that key and
    the minicert; without a certificate to sign with, the current-key pair is then left
    out, as certmonger does.
    """

    nonce: bytes
    pkcs_req: bytes | None
    get_cert_initial: bytes | None
    pkcs_req_rekey: bytes | None
    get_cert_initial_rekey: bytes | None


def build_message_set(*, csr: bytes, key_pem: bytes, minicert: bytes, ra_cert: bytes,
                      cipher: ContentCipher, digest: Digest, now: float,
                      next_key_pem: bytes | None = None, cert: bytes | None = None,
                      ca_cert: bytes | None = None, chain: Sequence[bytes] = (),
                      nonce: bytes | None = None) -> MessageSet:
    """A PKCSReq and a GetCertInitial (and rekey variants) for a DER CSR (certmonger's rules).

    `minicert` belongs to the CSR's key (`next_key_pem` when given, else `key_pem`);
    `cert` is the certificate the request holds, `ca_cert` the CA's (the RA's issuer;
    the RA certificate stands in for it when absent) and `chain` goes along with the
    signer's certificate.  All certificates DER.  Every message shares one fresh nonce.
    """
    nonce = nonce or secrets.token_bytes(NONCE_SIZE)
    if cert is not None and cert_parts(cert).spki != spki_der(load_private_key(key_pem)):
        # A certificate that is not the current key's cannot sign for it.
        cert = None
    names_ca = ca_cert or ra_cert
    transaction = transaction_id(csr_parts(csr)[1])
    sealed_csr = envelope(csr, ra_cert, cipher)

    def sign(content: bytes, key: bytes, signer: bytes, message_type: str) -> bytes:
        return sign_pki_message(content, key_pem=key, signer_cert=signer, digest=digest,
                                message_type=message_type, transaction=transaction,
                                sender_nonce=nonce, signing_time=now, extra_certs=chain)

    req = gic = req_next = gic_next = None
    mini_ias = envelope(issuer_and_subject(names_ca, minicert), ra_cert, cipher)
    if cert is not None:
        held_ias = envelope(issuer_and_subject(names_ca, cert), ra_cert, cipher)
        req = sign(sealed_csr, key_pem, cert, MESSAGE_PKCS_REQ)
        gic = sign(held_ias, key_pem, cert, MESSAGE_CERT_POLL)
    elif next_key_pem is None:
        req = sign(sealed_csr, key_pem, minicert, MESSAGE_PKCS_REQ)
        gic = sign(mini_ias, key_pem, minicert, MESSAGE_CERT_POLL)
    if next_key_pem is not None:
        req_next = sign(sealed_csr, next_key_pem, minicert, MESSAGE_PKCS_REQ)
        gic_next = sign(mini_ias, next_key_pem, minicert, MESSAGE_CERT_POLL)
    return MessageSet(nonce, req, gic, req_next, gic_next)


def pkcs7_pem(message: bytes | None) -> str:
    """A pkiMessage as certmonger 0.79.17 stores it and passes it on: PEM `PKCS7`."""
    return pem_armor("PKCS7", message) if message else ""


# --- record fields --------------------------------------------------------------------

# What a new CSR sets (certmonger's csrgen): a transaction ID and minicert for the CSR's
# key, and no messages, so that none made for an older CSR is ever sent.
CSR_FIELDS = ("scep_tx", "minicert", "scep_nonce", "scep_last_nonce", "scep_req",
              "scep_gic", "scep_req_next", "scep_gic_next")
MESSAGE_FIELDS = ("scep_tx", "minicert", "scep_nonce", "scep_req", "scep_gic",
                  "scep_req_next", "scep_gic_next")


def fields_for_new_csr(key_pem: bytes, csr_pem: str, now: float,
                       digest: str = "sha256") -> dict[str, str]:
    """The SCEP record fields for a request that has just made a CSR (`CSR_FIELDS`).

    `digest` is certmonger.conf's, which signs the minicert as it signs the CSR.
    """
    from ..crypto.csr import hash_algorithm
    values = dict.fromkeys(CSR_FIELDS, "")
    subject, spki = csr_parts(pem_to_der(csr_pem))
    values["scep_tx"] = transaction_id(spki)
    try:
        values["minicert"] = base64.b64encode(
            build_minicert(key_pem, subject, now, hash_algorithm(digest))).decode("ascii")
    except SCEPMessageError:
        values["minicert"] = ""  # a DSA key: it could never be used with SCEP anyway
    return values


@dataclass
class MessageInputs:
    """What one round of message building reads from a request and its CA."""

    csr_pem: str
    key_pem: bytes
    next_key_pem: bytes | None
    cert_pem: str
    chain_pems: list[str]
    minicert_b64: str
    ra_cert_pem: str
    ca_cert_pem: str
    capabilities: list[str]
    cipher_override: str
    digest_override: str
    now: float
    hash_algorithm: hashes.HashAlgorithm | None = None


def make_message_fields(inputs: MessageInputs) -> dict[str, str]:
    """New record fields (`MESSAGE_FIELDS`) holding a fresh message set.

    The minicert and transaction ID are made again when they are missing or belong to
    another key than the CSR's.
    """
    csr = pem_to_der(inputs.csr_pem)  # "CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"
    subject, spki = csr_parts(csr)
    csr_key = inputs.next_key_pem or inputs.key_pem
    minicert = b""
    if inputs.minicert_b64:
        try:
            minicert = base64.b64decode(inputs.minicert_b64)
            if cert_parts(minicert).spki != spki:
                minicert = b""
        except (binascii.Error, ValueError):
            minicert = b""
    if not minicert:
        minicert = build_minicert(csr_key, subject, inputs.now, inputs.hash_algorithm)
    messages = build_message_set(
        csr=csr, key_pem=inputs.key_pem, next_key_pem=inputs.next_key_pem,
        minicert=minicert, ra_cert=pem_to_der(inputs.ra_cert_pem, "CERTIFICATE"),
        ca_cert=pem_to_der(inputs.ca_cert_pem, "CERTIFICATE") if inputs.ca_cert_pem else None,
        cert=pem_to_der(inputs.cert_pem, "CERTIFICATE") if inputs.cert_pem else None,
        chain=[pem_to_der(pem, "CERTIFICATE") for pem in inputs.chain_pems],
        cipher=choose_cipher(inputs.capabilities, inputs.cipher_override),
        digest=choose_digest(inputs.capabilities, inputs.digest_override),
        now=inputs.now)
    return {
        "scep_tx": transaction_id(spki),
        "minicert": base64.b64encode(minicert).decode("ascii"),
        "scep_nonce": base64.b64encode(messages.nonce).decode("ascii"),
        "scep_req": pkcs7_pem(messages.pkcs_req),
        "scep_gic": pkcs7_pem(messages.get_cert_initial),
        "scep_req_next": pkcs7_pem(messages.pkcs_req_rekey),
        "scep_gic_next": pkcs7_pem(messages.get_cert_initial_rekey),
    }


def _self_signed(cert_pem: str) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def scep_variables(request: Request, ca: CA) -> dict[str, str]:
    """The CERTMONGER_SCEP_* and CERTMONGER_PKCSREQ* helper variables for a submission.

    The CA's values always; the request's messages only while they are unsent (its
    `scep_last_nonce` is not its `scep_nonce`), so that a helper needing to send again
    asks for fresh ones with exit status 16 (certmonger `cm_submit_e_helper_main`).

    Deliberate difference: when the CA named no issuer for a self-signed RA certificate
    (a CA that is its own RA, such as micromdm's scepserver), that certificate is also
    passed as the CA certificate, so that `scep-submit` can verify the CA's answers;
    certmonger then loops in CA_UNREACHABLE until `add-scep-ca -N` names it again.
    """
    ca_cert = ca.encryption_issuer_cert
    if not ca_cert and ca.encryption_cert and _self_signed(ca.encryption_cert):
        ca_cert = ca.encryption_cert
    values = {
        "CERTMONGER_SCEP_CA_IDENTIFIER": ca.scep_ca_identifier,
        "CERTMONGER_SCEP_RA_CERTIFICATE": ca.encryption_cert,
        "CERTMONGER_SCEP_CA_CERTIFICATE": ca_cert,
        "CERTMONGER_SCEP_CERTIFICATES": ca.encryption_cert_pool,
    }
    if not (request.scep_nonce and request.scep_nonce == request.scep_last_nonce):
        values.update({
            "CERTMONGER_PKCSREQ": request.scep_req,
            "CERTMONGER_GETCERTINITIAL": request.scep_gic,
            "CERTMONGER_PKCSREQ_REKEY": request.scep_req_next,
            "CERTMONGER_GETCERTINITIAL_REKEY": request.scep_gic_next,
        })
    return {name: value for name, value in values.items() if value}


def mark_messages_sent(request: Request) -> set[str]:
    """Record that the request's current message set has gone out; the fields changed."""
    if request.scep_nonce and request.scep_last_nonce != request.scep_nonce:
        request.scep_last_nonce = request.scep_nonce
        return {"scep_last_nonce"}
    return set()


# --- the engine's hooks ---------------------------------------------------------------


def _failure(request: Request, outcome: Outcome, error: str) -> ActionResult:
    from ..effects import ActionResult
    request.ca_error = error
    return ActionResult(outcome, {"ca_error"})


async def build_scep_messages(effects: Effects, request: Request, ca: CA | None) -> ActionResult:
    """NEED_SCEP_DATA: build a fresh message set for the request and store it.

    Outcomes: OK with the changed fields; NEED_ENCRYPTION_CERT when the CA has no usable
    RA certificate; NEED_RSA_KEY when a key is not RSA; PIN or TOKEN when a key cannot be
    read for want of them; FAILED (tried again soon) otherwise.
    """
    from ..effects import ActionResult
    if ca is None or not ca.encryption_cert.strip():
        return _failure(request, Outcome.NEED_ENCRYPTION_CERT,
                        "The CA has not provided its SCEP RA (encryption) certificate")
    loop = asyncio.get_running_loop()
    store = effects.keystore(request.key_storage_type)
    try:
        key = await loop.run_in_executor(effects.engine.executor, store.read_key, request, None)
        upcoming = None
        if request.key_next_marker:
            upcoming = await loop.run_in_executor(effects.engine.executor, store.read_key,
                                                  request, request.key_next_marker)
    except KeyStorePinError as exc:
        return _failure(request, Outcome.PIN, str(exc))
    except KeyStoreTokenError as exc:
        return _failure(request, Outcome.TOKEN, str(exc))
    except KeyStoreError as exc:
        return _failure(request, Outcome.FAILED, str(exc))
    if key is None or not request.csr:
        return _failure(request, Outcome.FAILED, "No key or signing request to send over SCEP")
    if key.key_type != "RSA" or (upcoming is not None and upcoming.key_type != "RSA"):
        return _failure(request, Outcome.NEED_RSA_KEY, "SCEP requires an RSA key")
    try:
        rsa_public_key(pem_to_der(ca.encryption_cert, "CERTIFICATE"))
        if ca.encryption_issuer_cert:
            cert_parts(pem_to_der(ca.encryption_issuer_cert, "CERTIFICATE"))
    except SCEPMessageError as exc:
        return _failure(request, Outcome.NEED_ENCRYPTION_CERT,
                        f"The CA's SCEP certificates cannot be used: {exc}")
    from ..crypto.csr import hash_algorithm
    inputs = MessageInputs(
        csr_pem=request.csr, key_pem=key.pem,
        next_key_pem=upcoming.pem if upcoming is not None else None,
        cert_pem=request.cert, chain_pems=[pem for _, pem in request.cert_chain],
        minicert_b64=request.minicert, ra_cert_pem=ca.encryption_cert,
        ca_cert_pem=ca.encryption_issuer_cert, capabilities=list(ca.capabilities),
        cipher_override=ca.scep_cipher, digest_override=ca.scep_digest,
        now=effects.engine.clock.time(),
        hash_algorithm=hash_algorithm(effects.engine.config.digest))
    try:
        fields = await loop.run_in_executor(effects.engine.executor, make_message_fields,
                                            inputs)
    except ValueError as exc:  # SCEPMessageError, or a key cryptography refuses
        return _failure(request, Outcome.FAILED, f"Error building SCEP messages: {exc}")
    for name, value in fields.items():
        setattr(request, name, value)
    changed = set(fields)
    if request.ca_error:
        request.ca_error = ""
        changed.add("ca_error")
    return ActionResult(Outcome.OK, changed)


async def prepare_scep_submission(effects: Effects, request: Request, ca: CA,
                                  submission: Submission) -> set[str]:
    """Give a submission its SCEP data and the keys its answer may be sealed to.

    Fills `submission.scep` (`scep_variables`), marks the message set as sent, and,
    while a new key is being tried, adds the current key to `submission.envelope_keys`:
    an answer to a message signed with the held certificate is sealed to that key
    (certmonger tries both keys).  Returns the request fields that changed.
    """
    submission.scep.update(scep_variables(request, ca))
    changed = mark_messages_sent(request)
    if request.key_next_marker and request.key_storage_type.upper() not in ("", "NONE"):
        store = effects.keystore(request.key_storage_type)
        try:
            key = await asyncio.get_running_loop().run_in_executor(
                effects.engine.executor, store.read_key, request, None)
        except KeyStoreError:
            key = None  # then only the new key can open the answer
        if key is not None and key.pem != submission.key_pem:
            submission.envelope_keys.append(key.pem)
    return changed


def decrypt_submission_envelope(submission: Submission, data: bytes) -> bytes:
    """Open an enveloped answer (SCEP's CertRep content) with the submission's keys."""
    keys = [k for k in (submission.key_pem, *submission.envelope_keys) if k]
    return decrypt_envelope(data, keys)
