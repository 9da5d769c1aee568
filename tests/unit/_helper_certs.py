"""Small certificate hierarchies for the helper-protocol tests, made with cryptography."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import NameOID


@dataclass
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(Encoding.PEM).decode("ascii")

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    key_ids: bool = True,
    rsa_key: bool = False,
    days: int = 30,
) -> Issued:
    """A certificate for `cn`, self-signed unless `issuer` is given."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if rsa_key:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        signer_pub = (issuer.key if issuer else key).public_key()
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_pub), critical=False
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key)


@dataclass
class Hierarchy:
    """root -> intermediate -> leaf."""

    root: Issued
    inter: Issued
    leaf: Issued


def make_hierarchy(prefix: str = "Test") -> Hierarchy:
    root = make_cert(f"{prefix} Root", ca=True)
    inter = make_cert(f"{prefix} Intermediate", root, ca=True)
    leaf = make_cert(f"{prefix} Leaf", inter)
    return Hierarchy(root, inter, leaf)


def pkcs7_bundle(*certs: Issued, pem: bool = True) -> bytes:
    """A degenerate (certificates-only) PKCS#7 signed-data bundle."""
    return pkcs7.serialize_certificates(
        [c.cert for c in certs], Encoding.PEM if pem else Encoding.DER
    )
