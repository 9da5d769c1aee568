"""PKCS#7 (RFC 2315) as SCEP uses it: EnvelopedData and SignedData, made and read.

RFC 8894 wraps every SCEP message in these two.  `cryptography` signs and encrypts;
the structures are written here by hand, because its PKCS#7 builders take neither
custom authenticated attributes nor DES, and its decryption neither DES nor BER.  Input
may be BER (indefinite lengths); output is DER.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

from ..crypto import der
from ..crypto.keys import load_private_key

try:  # cryptography >= 43 keeps DES and triple DES among its "decrepit" algorithms
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_RSAES_OAEP = "1.2.840.113549.1.1.7"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"


class SCEPMessageError(ValueError):
    """A pkiMessage or envelope could not be built, read, verified or opened."""


# --- algorithms -----------------------------------------------------------------------


@dataclass(frozen=True)
class ContentCipher:
    """A content-encryption algorithm for EnvelopedData (always in CBC mode)."""

    name: str  # certmonger's name, as in a CA's `scep_cipher`
    oid: str
    key_size: int  # bytes
    block_size: int  # bytes; also the IV length

    def algorithm(self, key: bytes) -> CipherAlgorithm:
        """The `cryptography` block cipher for a content-encryption key."""
        if self.name.startswith("AES"):
            return algorithms.AES(key)
        # Single DES is triple DES with K1 = K2 = K3.
        return TripleDES(key * 3 if len(key) == 8 else key)


CIPHERS = {
    c.name: c for c in (
        ContentCipher("AES256", "2.16.840.1.101.3.4.1.42", 32, 16),
        ContentCipher("AES192", "2.16.840.1.101.3.4.1.22", 24, 16),
        ContentCipher("AES128", "2.16.840.1.101.3.4.1.2", 16, 16),
        ContentCipher("DES3", "1.2.840.113549.3.7", 24, 8),
        ContentCipher("DES", "1.3.14.3.2.7", 8, 8),
    )
}
CIPHERS_BY_OID = {c.oid: c for c in CIPHERS.values()}


@dataclass(frozen=True)
class Digest:
    """A message digest for SignedData."""

    name: str  # certmonger's name, as in a CA's `scep_digest`
    oid: str
    hash: Callable[[], hashes.HashAlgorithm]


DIGESTS = {
    d.name: d for d in (
        Digest("SHA512", "2.16.840.1.101.3.4.2.3", hashes.SHA512),
        Digest("SHA384", "2.16.840.1.101.3.4.2.2", hashes.SHA384),
        Digest("SHA256", "2.16.840.1.101.3.4.2.1", hashes.SHA256),
        Digest("SHA224", "2.16.840.1.101.3.4.2.4", hashes.SHA224),
        Digest("SHA1", "1.3.14.3.2.26", hashes.SHA1),
        Digest("MD5", "1.2.840.113549.2.5", hashes.MD5),
    )
}
DIGESTS_BY_OID = {d.oid: d for d in DIGESTS.values()}


# --- reading DER and BER --------------------------------------------------------------


def element(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """The element at `pos`: (tag, content, end).

    Like `der.read`, but BER's indefinite lengths are read too: some SCEP servers send
    them, and RFC 8894 messages are BER.
    """
    if pos + 2 > len(data):
        raise SCEPMessageError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise SCEPMessageError("high tag numbers are not supported")
    if data[pos + 1] != 0x80:
        try:
            return der.read(data, pos)
        except der.DERError as exc:
            raise SCEPMessageError(str(exc)) from exc
    start = end = pos + 2
    while data[end:end + 2] != b"\x00\x00":
        if end >= len(data):
            raise SCEPMessageError("unterminated indefinite-length element")
        _, _, end = element(data, end)
    return tag, data[start:end], end + 2


def children(content: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, content, whole encoding) of each element inside a constructed element."""
    out = []
    pos = 0
    while pos < len(content):
        tag, inner, end = element(content, pos)
        out.append((tag, inner, content[pos:end]))
        pos = end
    return out


def one(data: bytes, tag: int) -> bytes:
    """The content of `data`, which must be one element tagged `tag`."""
    found, content, end = element(data)
    if found != tag or end != len(data):
        raise SCEPMessageError(f"expected one element tagged {tag:#x}")
    return content


def octets(tag: int, content: bytes) -> bytes:
    """An OCTET STRING's value, whether primitive or (BER) constructed of chunks."""
    if tag & 0x20:
        return b"".join(octets(t, c) for t, c, _ in children(content))
    return content


def decode_oid(content: bytes) -> str:
    """The dotted form of OBJECT IDENTIFIER content octets."""
    try:
        return der.decode_oid(content)
    except der.DERError as exc:
        raise SCEPMessageError(str(exc)) from exc


@dataclass(frozen=True)
class CertParts:
    """The raw pieces of a certificate that PKCS#7 structures quote."""

    serial: bytes  # the whole INTEGER element
    issuer: bytes  # the whole Name element
    subject: bytes
    spki: bytes


def cert_parts(cert_der: bytes) -> CertParts:
    """Issuer, serial, subject and key of a certificate, exactly as encoded in it."""
    try:
        tbs = children(one(cert_der, der.SEQUENCE))[0]
        fields = children(tbs[1])
        if fields and fields[0][0] == der.context(0):
            fields = fields[1:]  # [0] EXPLICIT version, absent from v1 certificates
        return CertParts(serial=fields[0][2], issuer=fields[2][2], subject=fields[4][2],
                          spki=fields[5][2])
    except (IndexError, SCEPMessageError) as exc:
        raise SCEPMessageError(f"not a certificate: {exc}") from exc


def csr_parts(csr_der: bytes) -> tuple[bytes, bytes]:
    """The subject Name and SubjectPublicKeyInfo of a CSR, exactly as encoded in it."""
    try:
        info = children(children(one(csr_der, der.SEQUENCE))[0][1])
        return info[1][2], info[2][2]
    except (IndexError, SCEPMessageError) as exc:
        raise SCEPMessageError(f"not a certificate signing request: {exc}") from exc


def pem_to_der(text: str | bytes, label: str = "") -> bytes:
    """The DER inside the first PEM block of `text` (with `label`, if given)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    pattern = rf"-----BEGIN {re.escape(label) if label else '[^-]*'}-----(.*?)-----END"
    match = re.search(pattern, text, re.DOTALL)
    if match is None:
        raise SCEPMessageError(f"no PEM {label or 'block'} found")
    body = "".join(line.strip() for line in match.group(1).splitlines() if ":" not in line)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SCEPMessageError(f"bad PEM {label or 'block'}: {exc}") from exc


def encode_time(when: datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)."""
    when = when.astimezone(UTC)
    if 1950 <= when.year < 2050:
        return der.tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return der.tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


# --- EnvelopedData --------------------------------------------------------------------


def rsa_public_key(cert_der: bytes) -> rsa.RSAPublicKey:
    """A certificate's RSA public key; SCEPMessageError if it has another kind."""
    try:
        key = x509.load_der_x509_certificate(cert_der).public_key()
    except ValueError as exc:
        raise SCEPMessageError(f"unreadable certificate: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SCEPMessageError("SCEP needs an RSA certificate")
    return key


def envelope(data: bytes, recipient_cert: bytes, cipher: ContentCipher) -> bytes:
    """A PKCS#7 EnvelopedData ContentInfo sealing `data` to one RSA certificate (DER).

    RFC 8894 §3.2.2: the content is encrypted with a fresh key in CBC mode, and the key
    with the recipient's RSA key (PKCS #1 v1.5), the recipient named by issuer and serial.
    """
    public_key = rsa_public_key(recipient_cert)
    parts = cert_parts(recipient_cert)
    key = os.urandom(cipher.key_size)
    iv = os.urandom(cipher.block_size)
    padder = sym_padding.PKCS7(cipher.block_size * 8).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(cipher.algorithm(key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    recipient = der.sequence(
        der.integer(0),
        der.sequence(parts.issuer, parts.serial),
        der.sequence(der.oid(OID_RSA_ENCRYPTION), der.tlv(der.NULL, b"")),
        der.tlv(der.OCTET_STRING, public_key.encrypt(key, padding.PKCS1v15())),
    )
    content = der.sequence(
        der.oid(OID_DATA),
        der.sequence(der.oid(cipher.oid), der.tlv(der.OCTET_STRING, iv)),
        der.tlv(der.context(0, constructed=False), encrypted),
    )
    enveloped = der.sequence(der.integer(0), der.set_of(recipient), content)
    return der.sequence(der.oid(OID_ENVELOPED_DATA), der.explicit(0, enveloped))


def content_info(data: bytes) -> tuple[str, bytes]:
    """(content type, content) of a PKCS#7 ContentInfo; content is b"" when absent."""
    items = children(one(data, der.SEQUENCE))
    if not items or items[0][0] != der.OID:
        raise SCEPMessageError("not a PKCS#7 ContentInfo")
    content = b""
    if len(items) > 1:
        if items[1][0] != der.context(0):
            raise SCEPMessageError("bad PKCS#7 content")
        content = items[1][1]
    return decode_oid(items[0][1]), content


def _unwrap_key(key: rsa.RSAPrivateKey, algorithm: str, encrypted_key: bytes) -> bytes:
    if algorithm == OID_RSAES_OAEP:
        return key.decrypt(encrypted_key, padding.OAEP(padding.MGF1(hashes.SHA1()),
                                                       hashes.SHA1(), None))
    return key.decrypt(encrypted_key, padding.PKCS1v15())


def decrypt_envelope(data: bytes, private_keys: Sequence[bytes]) -> bytes:
    """The content of a PKCS#7 EnvelopedData (DER or BER), opened with one of the keys.

    `private_keys` are unencrypted PEM keys, tried in order against every key-transport
    recipient.  Content ciphers: AES-128/192/256, triple DES and single DES, all CBC (a
    CertRep from micromdm's scepserver is DES, whatever the request used).
    """
    try:
        return _decrypt_envelope(data, private_keys)
    except IndexError as exc:  # an element missing from a SEQUENCE
        raise SCEPMessageError("malformed enveloped data") from exc


def _decrypt_envelope(data: bytes, private_keys: Sequence[bytes]) -> bytes:
    content_type, content = content_info(data)
    if content_type != OID_ENVELOPED_DATA:
        raise SCEPMessageError(f"not enveloped data but {content_type}")
    # version, [0] originatorInfo (CMS, optional), recipientInfos, encryptedContentInfo
    items = [item for item in children(one(content, der.SEQUENCE))[1:]
             if item[0] != der.context(0)]
    if len(items) < 2 or items[0][0] != der.SET:
        raise SCEPMessageError("truncated enveloped data")
    recipients = [children(inner) for tag, inner, _ in children(items[0][1])
                  if tag == der.SEQUENCE]
    info = children(items[1][1])
    if len(info) < 3:
        raise SCEPMessageError("the enveloped data holds no encrypted content")
    algorithm = children(info[1][1])
    cipher = CIPHERS_BY_OID.get(decode_oid(algorithm[0][1]))
    if cipher is None:
        raise SCEPMessageError(f"unsupported content cipher {decode_oid(algorithm[0][1])}")
    iv = algorithm[1][1] if len(algorithm) > 1 else b""
    encrypted = octets(info[2][0], info[2][1])
    if len(iv) != cipher.block_size or not encrypted or len(encrypted) % cipher.block_size:
        raise SCEPMessageError("malformed encrypted content")
    for key_pem in private_keys:
        key = load_private_key(key_pem)
        if not isinstance(key, rsa.RSAPrivateKey):
            continue
        for recipient in recipients:
            # KeyTransRecipientInfo: version, recipient id, key encryption algorithm,
            # encrypted key.  Other kinds (key agreement...) cannot be for an RSA key.
            if len(recipient) < 4 or recipient[3][0] != der.OCTET_STRING:
                continue
            key_algorithm = decode_oid(children(recipient[2][1])[0][1])
            try:
                content_key = _unwrap_key(key, key_algorithm, recipient[3][1])
                if len(content_key) != cipher.key_size:
                    continue
                decryptor = Cipher(cipher.algorithm(content_key), modes.CBC(iv)).decryptor()
                padded = decryptor.update(encrypted) + decryptor.finalize()
                unpadder = sym_padding.PKCS7(cipher.block_size * 8).unpadder()
                return unpadder.update(padded) + unpadder.finalize()
            except ValueError:
                continue  # not this key, or not this recipient
    raise SCEPMessageError("the enveloped data is not addressed to any of the request's keys")


# --- SignedData -----------------------------------------------------------------------


def attribute(oid: str, value: bytes) -> bytes:
    """An Attribute with one value (already encoded)."""
    return der.sequence(der.oid(oid), der.set_of(value))


def sign_data(content: bytes, *, key_pem: bytes, signer_cert: bytes, digest: Digest,
              attributes: Sequence[bytes], signing_time: float,
              extra_certs: Sequence[bytes] = ()) -> bytes:
    """A SignedData ContentInfo over `content` (type data), with one RSA signer (DER).

    The signer is named by the issuer and serial of `signer_cert`, which travels in the
    message with `extra_certs`.  The authenticated attributes are contentType,
    signingTime and messageDigest, then `attributes` (from `attribute`).
    """
    key = load_private_key(key_pem)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SCEPMessageError("SCEP messages are signed with RSA keys")
    parts = cert_parts(signer_cert)
    hasher = hashes.Hash(digest.hash())
    hasher.update(content)
    signed_attributes = [
        attribute(OID_CONTENT_TYPE, der.oid(OID_DATA)),
        attribute(OID_SIGNING_TIME, encode_time(datetime.fromtimestamp(signing_time, UTC))),
        attribute(OID_MESSAGE_DIGEST, der.tlv(der.OCTET_STRING, hasher.finalize())),
        *attributes,
    ]
    # The signature covers the attributes as a SET OF (RFC 2315 §9.3), in DER order; in
    # the SignerInfo the same content goes under an implicit [0] tag.
    signed = der.set_of(*signed_attributes)
    signature = key.sign(signed, padding.PKCS1v15(), digest.hash())
    digest_id = der.sequence(der.oid(digest.oid), der.tlv(der.NULL, b""))
    signer_info = der.sequence(
        der.integer(1),
        der.sequence(parts.issuer, parts.serial),
        digest_id,
        der.tlv(der.context(0), one(signed, der.SET)),
        der.sequence(der.oid(OID_RSA_ENCRYPTION), der.tlv(der.NULL, b"")),
        der.tlv(der.OCTET_STRING, signature),
    )
    signed_data = der.sequence(
        der.integer(1),
        der.set_of(digest_id),
        der.sequence(der.oid(OID_DATA), der.explicit(0, der.tlv(der.OCTET_STRING, content))),
        der.tlv(der.context(0), signer_cert + b"".join(extra_certs)),
        der.set_of(signer_info),
    )
    return der.sequence(der.oid(OID_SIGNED_DATA), der.explicit(0, signed_data))


@dataclass
class SignedContent:
    """A SignedData read back and checked: its content, signer and attributes."""

    content: bytes = b""  # the signed data; empty when absent
    digest: Digest | None = None
    signer: bytes = b""  # the signer's certificate, DER
    certificates: list[bytes] = field(default_factory=list)  # all carried, DER
    # Authenticated attributes: OID -> the content octets of the first value.
    attributes: dict[str, bytes] = field(default_factory=dict)


def read_signed(data: bytes) -> SignedContent:
    """A SignedData ContentInfo with one RSA signer, its signature checked.

    The signature and messageDigest are checked against the signer certificate the
    message carries; whether that certificate is to be trusted is the caller's question.
    Raises SCEPMessageError on anything else.
    """
    try:
        return _read_signed(data)
    except IndexError as exc:  # an element missing from a SEQUENCE
        raise SCEPMessageError("malformed signed data") from exc


def _read_signed(data: bytes) -> SignedContent:
    content_type, content = content_info(data)
    if content_type != OID_SIGNED_DATA:
        raise SCEPMessageError(f"not signed data but {content_type}")
    # version, digestAlgorithms, contentInfo, [0] certificates, [1] crls, signerInfos
    items = children(one(content, der.SEQUENCE))
    result = SignedContent()
    signer_infos: list[bytes] = []
    for tag, inner, _ in items[3:]:
        if tag == der.context(0):
            result.certificates = [whole for _, _, whole in children(inner)]
        elif tag == der.SET:
            signer_infos = [i for t, i, _ in children(inner) if t == der.SEQUENCE]
    inner_info = children(items[2][1])
    if len(inner_info) > 1:
        explicit = children(inner_info[1][1])
        if explicit:
            result.content = octets(explicit[0][0], explicit[0][1])
    if len(signer_infos) != 1:
        raise SCEPMessageError("expected exactly one signer")
    # version, issuerAndSerialNumber, digestAlgorithm, [0] authenticatedAttributes,
    # digestEncryptionAlgorithm, encryptedDigest
    info = children(signer_infos[0])
    if len(info) < 6 or info[3][0] != der.context(0):
        raise SCEPMessageError("the signer has no authenticated attributes")
    digest = DIGESTS_BY_OID.get(decode_oid(children(info[2][1])[0][1]))
    if digest is None:
        raise SCEPMessageError("unsupported digest algorithm")
    result.digest = digest
    for _, attr, _ in children(info[3][1]):
        parts = children(attr)
        values = children(parts[1][1])
        if values:
            result.attributes.setdefault(decode_oid(parts[0][1]), values[0][1])
    signer_id = info[1][1]
    for cert in result.certificates:
        cert_id = cert_parts(cert)
        if cert_id.issuer + cert_id.serial == signer_id:
            result.signer = cert
            break
    else:
        raise SCEPMessageError("the signer's certificate is not in the message")
    hasher = hashes.Hash(digest.hash())
    hasher.update(result.content)
    if hasher.finalize() != result.attributes.get(OID_MESSAGE_DIGEST):
        raise SCEPMessageError("the messageDigest does not match the content")
    try:
        rsa_public_key(result.signer).verify(info[5][1], der.tlv(der.SET, info[3][1]),
                                             padding.PKCS1v15(), digest.hash())
    except InvalidSignature as exc:
        raise SCEPMessageError("bad signature") from exc
    return result
