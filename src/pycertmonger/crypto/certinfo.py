"""Reading a certificate back the way certmonger does, into the request's `cert_*` fields.

certmonger (certread-n.c, certext.c) keeps the issuer and subject both as text (NSS
style, last RDN first) and as hex DER, the serial as the hex of the INTEGER's content
octets (so a leading `00` stays), the SPKI as hex DER, the validity as times, and what
it understands of the extensions.  Values that must match byte for byte are taken from
the certificate's own encoding, not from a re-encoding.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field, fields

from cryptography import x509

from ..model import Request
from . import der, extensions, names

_PEM_CERT = re.compile(
    r"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)-----END (?:X509 |TRUSTED )?CERTIFICATE-----",
    re.DOTALL,
)


@dataclass
class CertInfo:
    """certmonger's record of a certificate; field names are the Request attribute names."""

    cert: str = ""  # the certificate, normalised PEM
    cert_issuer: str = ""
    cert_issuer_der: str = ""
    cert_serial: str = ""
    cert_subject: str = ""
    cert_subject_der: str = ""
    cert_spki: str = ""
    cert_not_before: int = 0
    cert_not_after: int = 0
    cert_hostname: list[str] = field(default_factory=list)
    cert_email: list[str] = field(default_factory=list)
    cert_principal: list[str] = field(default_factory=list)
    cert_ipaddress: list[str] = field(default_factory=list)
    cert_ku: str = ""
    cert_eku: list[str] = field(default_factory=list)
    cert_is_ca: bool = False
    cert_ca_path_length: int = -1
    cert_crldp: list[str] = field(default_factory=list)
    cert_freshest_crl: list[str] = field(default_factory=list)
    cert_ocsp: list[str] = field(default_factory=list)
    cert_ns_comment: str = ""
    cert_ns_certtype: str = ""
    cert_profile: str = ""
    cert_no_ocsp_check: bool = False

    def apply_to(self, request: Request) -> None:
        """Copy every field onto `request`, replacing what it held."""
        for f in fields(self):
            value = getattr(self, f.name)
            setattr(request, f.name, list(value) if isinstance(value, list) else value)


def first_certificate_pem(text: str) -> str | None:
    """The first PEM certificate in `text`, re-armored with 64-column base64; None if none."""
    for match in _PEM_CERT.finditer(text):
        body = "".join(match.group(1).split())
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            continue
        if data:
            return pem_from_der(data)
    return None


def pem_from_der(data: bytes) -> str:
    """PEM text (CERTIFICATE armor, trailing newline) for a DER certificate."""
    b64 = base64.b64encode(data).decode("ascii")
    body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


@dataclass
class _TbsParts:
    serial: bytes
    issuer: bytes
    subject: bytes
    spki: bytes
    extensions: list[extensions.RawExtension]


def _split_tbs(tbs: bytes) -> _TbsParts:
    """The raw pieces of a TBSCertificate (RFC 5280 §4.1)."""
    items = der.raw_children(der.read_one(tbs, der.SEQUENCE))
    if items and items[0][0] == der.context(0):  # explicit version
        items = items[1:]
    if len(items) < 6 or items[0][0] != der.INTEGER:
        raise der.DERError("not a TBSCertificate")
    exts: list[extensions.RawExtension] = []
    for tag, content, _raw in items[6:]:
        if tag == der.context(3):
            exts = extensions.parse_extension_list(content)
    return _TbsParts(
        serial=items[0][1], issuer=items[2][2], subject=items[4][2], spki=items[5][2],
        extensions=exts,
    )


def certificate_extensions(cert: x509.Certificate) -> list[extensions.RawExtension]:
    """A certificate's extensions exactly as encoded."""
    return _split_tbs(cert.tbs_certificate_bytes).extensions


def load_certificate(pem: str) -> x509.Certificate:
    """The first certificate in PEM text; ValueError when there is none."""
    normalised = first_certificate_pem(pem)
    if normalised is None:
        raise ValueError("no PEM certificate found")
    return x509.load_pem_x509_certificate(normalised.encode("ascii"))


def read_cert_info(pem: str) -> CertInfo:
    """certmonger's `cert_*` values for the first certificate in `pem`.

    ValueError when `pem` holds no readable certificate.
    """
    normalised = first_certificate_pem(pem)
    if normalised is None:
        raise ValueError("no PEM certificate found")
    cert = x509.load_pem_x509_certificate(normalised.encode("ascii"))
    parts = _split_tbs(cert.tbs_certificate_bytes)
    ext = extensions.read_extensions(parts.extensions)
    return CertInfo(
        cert=normalised,
        cert_issuer=names.format_name(cert.issuer),
        cert_issuer_der=parts.issuer.hex().upper(),
        cert_serial=parts.serial.hex().upper(),
        cert_subject=names.format_name(cert.subject),
        cert_subject_der=parts.subject.hex().upper(),
        cert_spki=parts.spki.hex().upper(),
        cert_not_before=int(cert.not_valid_before_utc.timestamp()),
        cert_not_after=int(cert.not_valid_after_utc.timestamp()),
        cert_hostname=ext.hostnames,
        cert_email=ext.emails,
        cert_principal=ext.principals,
        cert_ipaddress=ext.ip_addresses,
        cert_ku=ext.ku,
        cert_eku=ext.eku,
        cert_is_ca=ext.is_ca,
        cert_ca_path_length=ext.ca_path_length,
        cert_crldp=ext.crldp,
        cert_freshest_crl=ext.freshest_crl,
        cert_ocsp=ext.ocsp,
        cert_ns_comment=ext.ns_comment,
        cert_ns_certtype=ext.ns_certtype,
        cert_profile=ext.profile,
        cert_no_ocsp_check=ext.no_ocsp_check,
    )
