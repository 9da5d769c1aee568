"""certmonger's reading of X.509 extensions, from their exact DER.

Certificates and requests are read the way certmonger reads them (NSS decoders, see
certmonger's certext.c): the values it records (`cert_ku`, `cert_principal`, ...) come
from the extension bytes as written, so a key usage keeps the bit count its encoder chose
and a malformed extension is skipped instead of spoiling the whole certificate.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from . import der, names

OID_KEY_USAGE = "2.5.29.15"
OID_SUBJECT_ALT_NAME = "2.5.29.17"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_CRL_DISTRIBUTION_POINTS = "2.5.29.31"
OID_EXTENDED_KEY_USAGE = "2.5.29.37"
OID_FRESHEST_CRL = "2.5.29.46"
OID_AUTHORITY_INFO_ACCESS = "1.3.6.1.5.5.7.1.1"
OID_OCSP = "1.3.6.1.5.5.7.48.1"
OID_OCSP_NO_CHECK = "1.3.6.1.5.5.7.48.1.5"
OID_NS_CERT_TYPE = "2.16.840.1.113730.1.1"
OID_NS_COMMENT = "2.16.840.1.113730.1.13"
OID_MS_CERTTYPE = "1.3.6.1.4.1.311.20.2"  # certificate template name (BMPString)
OID_MS_CERTIFICATE_TEMPLATE = "1.3.6.1.4.1.311.21.7"  # v2 template: OID, major, minor
OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"

# Netscape certificate type bits (certmonger's ns-certtype names), bit 0 first.
NS_CERTTYPE_NAMES = ("client", "server", "email", "objsign", "reserved", "sslCA", "emailCA",
                     "objCA")

# NSS reports a CA certificate without a path length as "unlimited", -2.
UNLIMITED_PATH_LENGTH = -2


@dataclass
class RawExtension:
    """One extension as encoded: OID, criticality and the DER inside its OCTET STRING."""

    oid: str
    critical: bool
    value: bytes


@dataclass
class ExtensionFields:
    """What certmonger records from a set of extensions."""

    hostnames: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    ku: str = ""
    eku: list[str] = field(default_factory=list)
    is_ca: bool = False
    ca_path_length: int = -1
    crldp: list[str] = field(default_factory=list)
    freshest_crl: list[str] = field(default_factory=list)
    ocsp: list[str] = field(default_factory=list)
    ns_comment: str = ""
    ns_certtype: str = ""
    profile: str = ""
    no_ocsp_check: bool = False


def parse_extension_list(extensions_der: bytes) -> list[RawExtension]:
    """The extensions in a DER `Extensions` SEQUENCE (RFC 5280 §4.1)."""
    out = []
    for tag, content in der.children(der.read_one(extensions_der, der.SEQUENCE)):
        if tag != der.SEQUENCE:
            raise der.DERError("extension is not a SEQUENCE")
        parts = der.children(content)
        if len(parts) not in (2, 3) or parts[0][0] != der.OID:
            raise der.DERError("malformed extension")
        critical = len(parts) == 3 and parts[1][0] == der.BOOLEAN and parts[1][1] != b"\x00"
        if parts[-1][0] != der.OCTET_STRING:
            raise der.DERError("extension value is not an OCTET STRING")
        out.append(RawExtension(der.decode_oid(parts[0][1]), critical, parts[-1][1]))
    return out


def _append_unique(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _read_san(value: bytes, out: ExtensionFields) -> None:
    for tag, content in der.children(der.read_one(value, der.SEQUENCE)):
        if tag == der.context(2, constructed=False):  # dNSName
            _append_unique(out.hostnames, content.decode("ascii", "replace"))
        elif tag == der.context(1, constructed=False):  # rfc822Name
            _append_unique(out.emails, content.decode("ascii", "replace"))
        elif tag == der.context(7, constructed=False):  # iPAddress
            if len(content) in (4, 16):
                _append_unique(out.ip_addresses, str(ipaddress.ip_address(content)))
        elif tag == der.context(0):  # otherName
            parts = der.children(content)
            if len(parts) != 2 or parts[0][0] != der.OID or parts[1][0] != der.context(0):
                continue
            type_id = der.decode_oid(parts[0][1])
            try:
                if type_id == names.KRB5_PRINCIPAL_NAME_OID.dotted_string:
                    principal = names.principal_from_krb5_der(parts[1][1])
                elif type_id == names.MS_UPN_OID.dotted_string:
                    principal = names.principal_from_upn_der(parts[1][1])
                else:
                    continue
            except (ValueError, KeyError, UnicodeDecodeError):
                continue
            _append_unique(out.principals, principal)


def _read_basic_constraints(value: bytes, out: ExtensionFields) -> None:
    is_ca = False
    path_length: int | None = None
    for tag, content in der.children(der.read_one(value, der.SEQUENCE)):
        if tag == der.BOOLEAN:
            is_ca = content != b"\x00"
        elif tag == der.INTEGER:
            path_length = der.decode_integer(content)
    out.is_ca = is_ca
    if not is_ca:
        out.ca_path_length = -1
    else:
        out.ca_path_length = UNLIMITED_PATH_LENGTH if path_length is None else path_length


def _first_uris_of_distribution_points(value: bytes) -> list[str]:
    uris: list[str] = []
    for tag, point in der.children(der.read_one(value, der.SEQUENCE)):
        if tag != der.SEQUENCE:
            continue
        for ptag, dpname in der.children(point):
            if ptag != der.context(0):  # distributionPoint
                continue
            for ntag, general_names in der.children(dpname):
                if ntag != der.context(0):  # fullName
                    continue
                # NSS looks at the first name of a fullName only.
                first = der.children(general_names)[:1]
                if first and first[0][0] == der.context(6, constructed=False):
                    uris.append(first[0][1].decode("ascii", "replace"))
    return uris


def _read_aia(value: bytes, out: ExtensionFields) -> None:
    ocsp = []
    for tag, desc in der.children(der.read_one(value, der.SEQUENCE)):
        parts = der.children(desc) if tag == der.SEQUENCE else []
        if (len(parts) == 2 and parts[0][0] == der.OID
                and der.decode_oid(parts[0][1]) == OID_OCSP
                and parts[1][0] == der.context(6, constructed=False) and parts[1][1]):
            ocsp.append(parts[1][1].decode("ascii", "replace"))
    out.ocsp = ocsp


def _read_ns_certtype(value: bytes) -> str:
    flags = der.flags_from_bit_string(der.read_one(value, der.BIT_STRING))
    return ",".join(NS_CERTTYPE_NAMES[i] for i, c in enumerate(flags[:8]) if c == "1")


def read_extensions(extensions: list[RawExtension]) -> ExtensionFields:
    """certmonger's fields from extensions; one it cannot decode is left out."""
    out = ExtensionFields()
    for ext in extensions:
        try:
            if ext.oid == OID_KEY_USAGE:
                out.ku = der.flags_from_bit_string(der.read_one(ext.value, der.BIT_STRING))
            elif ext.oid == OID_EXTENDED_KEY_USAGE:
                seq = der.read_one(ext.value, der.SEQUENCE)
                out.eku = [der.decode_oid(c) for t, c in der.children(seq) if t == der.OID]
            elif ext.oid == OID_SUBJECT_ALT_NAME:
                _read_san(ext.value, out)
            elif ext.oid == OID_BASIC_CONSTRAINTS:
                _read_basic_constraints(ext.value, out)
            elif ext.oid == OID_NS_COMMENT:
                out.ns_comment = der.read_one(ext.value, der.IA5_STRING).decode(
                    "ascii", "replace")
            elif ext.oid == OID_AUTHORITY_INFO_ACCESS:
                _read_aia(ext.value, out)
            elif ext.oid == OID_CRL_DISTRIBUTION_POINTS:
                out.crldp = _first_uris_of_distribution_points(ext.value)
            elif ext.oid == OID_FRESHEST_CRL:
                out.freshest_crl = _first_uris_of_distribution_points(ext.value)
            elif ext.oid == OID_MS_CERTTYPE:
                out.profile = bmp_decode(der.read_one(ext.value, der.BMP_STRING))
            elif ext.oid == OID_OCSP_NO_CHECK:
                out.no_ocsp_check = True
            elif ext.oid == OID_NS_CERT_TYPE:
                out.ns_certtype = _read_ns_certtype(ext.value)
        except (ValueError, UnicodeDecodeError):
            continue
    return out


def bmp_encode(text: str) -> bytes:
    """A BMPString element for `text` (UTF-16BE content octets)."""
    return der.tlv(der.BMP_STRING, text.encode("utf-16-be"))


def bmp_decode(content: bytes) -> str:
    """The text of BMPString content octets."""
    return content.decode("utf-16-be")
