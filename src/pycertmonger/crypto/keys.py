"""Private keys: generation, PKCS#8 PEM encoding (encrypted with a PIN or not), reading back.

Keys are kept as certmonger keeps them in files: PKCS#8 PEM, `BEGIN PRIVATE KEY`, or
`BEGIN ENCRYPTED PRIVATE KEY` (PBES2, PBKDF2-HMAC-SHA256, AES-CBC, as OpenSSL writes with
`PEM_write_PKCS8PrivateKey`) when the request has a PIN.

PIN policy when reading: an encrypted key with no PIN or a wrong PIN raises `KeyPinError`
(certmonger's NEED_*_PIN states).  A PIN given for a key that is not encrypted is ignored;
certmonger treats that as an error, but nothing is gained by stopping there, and the key is
encrypted with the PIN the next time it is written.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..keystores.base import StoredKey
from . import der

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey

DEFAULT_RSA_SIZE = 2048
MIN_RSA_SIZE = 1024  # certmonger's floor for rsa_key_size and -g
DEFAULT_DSA_SIZE = 2048
RSA_EXPONENT = 65537

# PBES2 parameters (RFC 8018 §6.2, appendix A.2/C) as OpenSSL uses them by default.
_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_HMAC_SHA256 = "1.2.840.113549.2.9"
_PBKDF2_ITERATIONS = 2048  # OpenSSL's PKCS5_DEFAULT_ITER
_SALT_LEN = 16
_CIPHERS: dict[str, tuple[str, int]] = {
    # name: (OID of the CBC mode, key length in bytes); RFC 3565 §4.1
    "aes128": ("2.16.840.1.101.3.4.1.2", 16),
    "aes-128": ("2.16.840.1.101.3.4.1.2", 16),
    "aes": ("2.16.840.1.101.3.4.1.2", 16),
    "aes256": ("2.16.840.1.101.3.4.1.42", 32),
    "aes-256": ("2.16.840.1.101.3.4.1.42", 32),
}


class KeyPinError(ValueError):
    """The key is encrypted and the PIN is missing or wrong."""


class UnsupportedKeyError(ValueError):
    """The key is of a kind certmonger does not handle (neither RSA, EC nor DSA)."""


def _curve_for_size(size: int) -> ec.EllipticCurve:
    if size <= 256:
        return ec.SECP256R1()
    if size <= 384:
        return ec.SECP384R1()
    return ec.SECP521R1()


def generate_key(key_type: str, size: int) -> PrivateKey:
    """A new private key of certmonger's kind `key_type` (RSA, EC/ECDSA, DSA)."""
    kind = key_type.strip().upper()
    if kind == "RSA":
        bits = DEFAULT_RSA_SIZE if size <= 0 else max(size, MIN_RSA_SIZE)
        return rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=bits)
    if kind in ("EC", "ECDSA"):
        return ec.generate_private_key(_curve_for_size(size))
    if kind == "DSA":
        return dsa.generate_private_key(key_size=DEFAULT_DSA_SIZE if size <= 0 else size)
    raise ValueError(f"unsupported key type {key_type!r}")


def generate_key_pem(key_type: str, size: int) -> bytes:
    """A new private key as unencrypted PKCS#8 PEM.

    RSA: `size` bits (0 means 2048; less than 1024 is raised to 1024), e = 65537.
    EC: P-256 for sizes up to 256, P-384 up to 384, P-521 above.
    ValueError for other key types.
    """
    return _pkcs8_pem(generate_key(key_type, size))


def _pkcs8_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _is_encrypted(pem: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in pem or b"Proc-Type: 4,ENCRYPTED" in pem


def load_private_key(pem: bytes, pin: str | None = None) -> PrivateKey:
    """The private key in `pem` (PKCS#8 or traditional PEM, encrypted or not).

    KeyPinError when the key is encrypted and `pin` is missing or wrong; ValueError
    when the data is not a private key.  A PIN for an unencrypted key is ignored.
    """
    encrypted = _is_encrypted(pem)
    if encrypted and not pin:
        raise KeyPinError("the key is encrypted and no PIN was given")
    password = pin.encode("utf-8") if encrypted and pin else None
    try:
        # The keys we load come from the request's own key storage, which only its
        # owner can write: the RSA consistency check (about 50 ms a load) buys nothing.
        key = serialization.load_pem_private_key(pem, password=password,
                                                 unsafe_skip_rsa_key_validation=True)
    except TypeError as exc:
        # cryptography says TypeError when encryption and password do not agree.
        raise KeyPinError(str(exc)) from exc
    except ValueError as exc:
        if encrypted:
            raise KeyPinError("the PIN does not decrypt the key") from exc
        raise ValueError(f"not a private key: {exc}") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey)):
        raise UnsupportedKeyError(f"unsupported private key type {type(key).__name__}")
    return key


def _pbes2_encrypt(plain_der: bytes, pin: str, cipher: str) -> bytes:
    try:
        cipher_oid, key_len = _CIPHERS[cipher.strip().lower()]
    except KeyError:
        raise ValueError(f"unsupported key encryption cipher {cipher!r}") from None
    salt = os.urandom(_SALT_LEN)
    iv = os.urandom(16)
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=key_len, salt=salt, iterations=_PBKDF2_ITERATIONS
    )
    secret = kdf.derive(pin.encode("utf-8"))
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain_der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    pbkdf2_params = der.sequence(
        der.tlv(der.OCTET_STRING, salt),
        der.integer(_PBKDF2_ITERATIONS),
        der.sequence(der.oid(_OID_HMAC_SHA256), der.tlv(der.NULL, b"")),
    )
    pbes2_params = der.sequence(
        der.sequence(der.oid(_OID_PBKDF2), pbkdf2_params),
        der.sequence(der.oid(cipher_oid), der.tlv(der.OCTET_STRING, iv)),
    )
    return der.sequence(
        der.sequence(der.oid(_OID_PBES2), pbes2_params),
        der.tlv(der.OCTET_STRING, encrypted),
    )


def pem_armor(label: str, data: bytes) -> str:
    """PEM text for `data`: the armor lines around 64-column base64, newline-terminated."""
    b64 = base64.b64encode(data).decode("ascii")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def encode_private_key(
    key_or_pem: PrivateKey | bytes, pin: str | None = None, cipher: str = "aes128"
) -> bytes:
    """PKCS#8 PEM for a key, encrypted with `pin` when one is given.

    The encrypted form is PBES2 with PBKDF2-HMAC-SHA256 and AES-CBC (`cipher`: aes128,
    the default, or aes256; `aes`, `aes-128`, `aes-256` also accepted), which
    `openssl pkey -passin pass:PIN` reads.  An unencrypted PEM given as `key_or_pem`
    is re-encoded.
    """
    key = load_private_key(key_or_pem) if isinstance(key_or_pem, bytes) else key_or_pem
    if not pin:
        return _pkcs8_pem(key)
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem_armor("ENCRYPTED PRIVATE KEY", _pbes2_encrypt(plain, pin, cipher)).encode()


def key_type_name(key: PrivateKey) -> str:
    """certmonger's name for a key's type: RSA, EC or DSA."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "EC"
    return "DSA"


def spki_der(key: PrivateKey) -> bytes:
    """The DER SubjectPublicKeyInfo of a key's public half."""
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_b64(key_pem: bytes) -> str:
    """The SubjectPublicKeyInfo of an unencrypted PEM key, DER in base64 (CERTMONGER_SPKI)."""
    return base64.b64encode(spki_der(load_private_key(key_pem))).decode("ascii")


def bare_public_key(key: PrivateKey) -> bytes:
    """The public key as the SPKI's BIT STRING holds it (RSAPublicKey DER, EC point...)."""
    spki = der.children(der.read_one(spki_der(key), der.SEQUENCE))
    return spki[1][1][1:]


def describe_key(key: PrivateKey) -> StoredKey:
    """What certmonger records about a key: type, size and public key in hex."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
    else:
        size = key.key_size
    return StoredKey(
        pem=_pkcs8_pem(key),
        key_type=key_type_name(key),
        key_size=size,
        pubkey_info=spki_der(key).hex().upper(),
        pubkey=bare_public_key(key).hex().upper(),
    )

