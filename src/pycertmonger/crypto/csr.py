"""Certificate signing requests as certmonger builds them, the SPKAC beside them, and CSR read-back.

The request carries, in certmonger's order (certext.c `build_csr_extensions`): keyUsage,
subjectAltName (DNS names, emails, for each principal a Microsoft UPN and a Kerberos
KRB5PrincipalName otherName, IP addresses), extendedKeyUsage, basicConstraints
(critical, CA:FALSE unless asked), a self authorityKeyIdentifier for CA requests,
subjectKeyIdentifier, authorityInfoAccess (OCSP), CRL distribution points, freshest CRL,
Netscape comment, OCSP no-check, the Microsoft template-name extension (`-T`), the
Microsoft v2 template extension (`--ms-template-spec`) and Netscape cert type.  The
friendlyName attribute holds the nickname; challengePassword is added when set.

Deliberate differences from certmonger 0.79.17: the subjectKeyIdentifier is the SHA-1 of
the public key (RFC 5280 §4.2.1.2 method 1; certmonger hashes a buffer that holds stray
memory), and a CN with characters PrintableString lacks is encoded as UTF8String.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AuthorityInformationAccessOID, ObjectIdentifier

from . import der, extensions, keys, names

log = logging.getLogger(__name__)

OID_FRIENDLY_NAME = ObjectIdentifier("1.2.840.113549.1.9.20")
OID_CHALLENGE_PASSWORD = ObjectIdentifier("1.2.840.113549.1.9.7")

SigningHash = hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_DIGESTS: dict[str, type[SigningHash]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# certmonger also accepts md5 and sha1; signatures with them are refused by today's
# libraries and verifiers, so those settings sign with SHA-256 instead.
_WEAK_DIGESTS = {"md5", "sha1"}
# Signature algorithm identifiers for hand-built structures (RFC 4055, RFC 5758).
_RSA_SIG_OIDS = {"sha224": "1.2.840.113549.1.1.14",
                 "sha256": "1.2.840.113549.1.1.11", "sha384": "1.2.840.113549.1.1.12",
                 "sha512": "1.2.840.113549.1.1.13"}
_EC_SIG_OIDS = {"sha224": "1.2.840.10045.4.3.1",
                "sha256": "1.2.840.10045.4.3.2", "sha384": "1.2.840.10045.4.3.3",
                "sha512": "1.2.840.10045.4.3.4"}
_DSA_SIG_OIDS = {"sha224": "2.16.840.1.101.3.4.3.1",
                 "sha256": "2.16.840.1.101.3.4.3.2"}

_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*\Z")
_STRTOL = re.compile(r"\s*[+-]?\d+\Z")


def _digest_name(digest: str) -> str:
    name = digest.strip().lower() or "sha256"
    if name in _WEAK_DIGESTS:
        log.warning("Signing with sha256 instead of the weak digest %s.", name)
        return "sha256"
    if name not in _DIGESTS:
        raise ValueError(f"unsupported digest {digest!r}")
    return name


def hash_algorithm(digest: str) -> SigningHash:
    """The hash for certmonger's `digest` setting (sha224, sha256, sha384, sha512).

    md5 and sha1 give SHA-256; ValueError for names certmonger does not know.
    """
    return _DIGESTS[_digest_name(digest)]()


@dataclass
class CsrTemplate:
    """What a request asks for, in certmonger's template terms."""

    nickname: str = ""  # goes into the friendlyName attribute
    subject: str = ""  # `-N` syntax; empty means CN=localhost, as certmonger
    # certmonger parses the subject of a key kept in an NSS database with NSS, which
    # reads RFC 4514 order (the last RDN written comes first in the name), and that of
    # a key in a file with its own OpenSSL parser (RDNs in the order written).
    subject_nss_order: bool = False
    hostnames: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    ku: str = ""  # key-usage bit string, "101"
    eku: list[str] = field(default_factory=list)  # OIDs or names
    is_ca: bool = False
    ca_path_length: int = -1  # -1: no path length constraint
    crldp: list[str] = field(default_factory=list)
    ocsp: list[str] = field(default_factory=list)
    ns_comment: str = ""
    ns_certtype: str = ""  # comma-separated: client, server, email, objsign, sslCA...
    profile: str = ""  # `-T`: Microsoft certificate template name extension
    ms_template: str = ""  # `--ms-template-spec OID:major[:minor]`
    challenge_password: str = ""
    freshest_crl: list[str] = field(default_factory=list)
    no_ocsp_check: bool = False


def parse_ms_template_spec(spec: str) -> bytes:
    """The DER value of the Microsoft v2 template extension for `OID:major[:minor]`.

    ValueError with certmonger's message when the specifier is malformed.
    """
    problem = ValueError(f"Invalid V2 certificate template specifier: {spec}")
    # certmonger splits with strtok, so empty fields between colons vanish.
    parts = [p for p in spec.split(":") if p]
    if len(parts) not in (2, 3):
        raise problem
    oid_text = parts[0][4:] if parts[0].upper().startswith("OID.") else parts[0]
    try:
        encoded = [der.oid(oid_text)]
    except ValueError:
        raise problem from None
    for number in parts[1:]:
        if not _STRTOL.match(number):
            raise problem
        encoded.append(der.integer(int(number)))
    return der.sequence(*encoded)


def _ns_certtype_flags(text: str) -> str:
    bits = ["0"] * 8
    lowered = [n.lower() for n in extensions.NS_CERTTYPE_NAMES]
    for item in text.split(","):
        item = item.strip().lower()
        if item in lowered:
            bits[lowered.index(item)] = "1"
        elif item:
            log.warning("Unknown netscape certificate type %r, ignoring.", item)
    return "".join(bits)


def _dns_name(host: str) -> x509.DNSName:
    # certmonger converts internationalised names to their ASCII form (IDNA).
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return x509.DNSName(host)


def subject_alt_names(template: CsrTemplate) -> list[x509.GeneralName]:
    """The SAN entries for a template, in certmonger's order; unparseable ones skipped."""
    out: list[x509.GeneralName] = []
    for host in template.hostnames:
        if host:
            try:
                out.append(_dns_name(host))
            except (UnicodeError, ValueError):
                log.warning("Unable to convert hostname %r to an ASCII name, ignoring.", host)
    out.extend(x509.RFC822Name(email) for email in template.emails if email)
    seen: set[str] = set()
    for principal in template.principals:
        if not principal or principal in seen:
            continue
        seen.add(principal)
        try:
            out.extend(names.principal_general_names(principal))
        except ValueError:
            log.warning("Unable to parse principal name %r, ignoring.", principal)
    for address in template.ip_addresses:
        if address:
            try:
                out.append(names.ip_general_name(address))
            except ValueError:
                log.warning("Unable to parse %r as an IP address, ignoring.", address)
    return out


def _eku_oids(values: list[str]) -> list[x509.ObjectIdentifier]:
    out = []
    for value in values:
        try:
            out.append(ObjectIdentifier(names.eku_oid(value)))
        except ValueError:
            # certmonger logs "Couldn't parse OID" and leaves the value out.
            log.warning("Couldn't parse OID %r, ignoring.", value)
    return out


def _uri_points(uris: list[str]) -> list[x509.DistributionPoint]:
    return [
        x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
        for u in uris if u
    ]


def build_extensions(
    template: CsrTemplate, public_key: keys.PrivateKey
) -> list[tuple[x509.ExtensionType, bool]]:
    """The (extension, critical) pairs a CSR for `template` requests, in certmonger order."""
    pub = public_key.public_key()
    exts: list[tuple[x509.ExtensionType, bool]] = []
    if "1" in template.ku:
        # Encoded from the bit string directly, so that any bit pattern certmonger would
        # encode (encipherOnly alone, say) is accepted.
        ku_der = der.bit_string_from_flags(template.ku)
        exts.append((x509.UnrecognizedExtension(x509.OID_KEY_USAGE, ku_der), False))
    san = subject_alt_names(template)
    if san:
        exts.append((x509.SubjectAlternativeName(san), False))
    eku = _eku_oids(template.eku)
    if eku:
        exts.append((x509.ExtendedKeyUsage(eku), False))
    path = template.ca_path_length if template.is_ca and template.ca_path_length >= 0 else None
    exts.append((x509.BasicConstraints(ca=template.is_ca, path_length=path), True))
    skid = x509.SubjectKeyIdentifier.from_public_key(pub)
    if template.is_ca:
        exts.append((x509.AuthorityKeyIdentifier(skid.digest, None, None), False))
    exts.append((skid, False))
    ocsp = [
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                               x509.UniformResourceIdentifier(u))
        for u in template.ocsp if u
    ]
    if ocsp:
        exts.append((x509.AuthorityInformationAccess(ocsp), False))
    if _uri_points(template.crldp):
        exts.append((x509.CRLDistributionPoints(_uri_points(template.crldp)), False))
    if _uri_points(template.freshest_crl):
        exts.append((x509.FreshestCRL(_uri_points(template.freshest_crl)), False))
    if template.ns_comment:
        value = der.tlv(der.IA5_STRING, template.ns_comment.encode("ascii", "replace"))
        exts.append((x509.UnrecognizedExtension(
            ObjectIdentifier(extensions.OID_NS_COMMENT), value), False))
    if template.no_ocsp_check:
        exts.append((x509.OCSPNoCheck(), False))
    if template.profile:
        exts.append((x509.UnrecognizedExtension(
            ObjectIdentifier(extensions.OID_MS_CERTTYPE),
            extensions.bmp_encode(template.profile)), False))
    if template.ms_template:
        exts.append((x509.UnrecognizedExtension(
            ObjectIdentifier(extensions.OID_MS_CERTIFICATE_TEMPLATE),
            parse_ms_template_spec(template.ms_template)), False))
    if template.ns_certtype:
        flags = _ns_certtype_flags(template.ns_certtype)
        if "1" in flags:
            exts.append((x509.UnrecognizedExtension(
                ObjectIdentifier(extensions.OID_NS_CERT_TYPE),
                der.bit_string_from_flags(flags)), False))
    return exts


def build_csr(key_pem: bytes, template: CsrTemplate, digest: str = "sha256") -> str:
    """A PEM CSR (`CERTIFICATE REQUEST` armor, trailing newline) signed with the key."""
    key = keys.load_private_key(key_pem)
    subject = names.parse_subject(template.subject or names.DEFAULT_SUBJECT)
    if not list(subject):
        subject = names.parse_subject(names.DEFAULT_SUBJECT)
    if template.subject_nss_order:
        subject = x509.Name(list(reversed(subject.rdns)))
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    for ext, critical in build_extensions(template, key):
        builder = builder.add_extension(ext, critical=critical)
    if template.nickname:
        builder = builder.add_attribute(
            OID_FRIENDLY_NAME, template.nickname.encode("utf-16-be"), _tag=_ASN1Type.BMPString
        )
    if template.challenge_password:
        # certmonger tags the password PrintableString; one that cannot be is UTF8String,
        # which RFC 2985's DirectoryString allows too.
        tag = (_ASN1Type.PrintableString if _PRINTABLE.match(template.challenge_password)
               else _ASN1Type.UTF8String)
        builder = builder.add_attribute(
            OID_CHALLENGE_PASSWORD, template.challenge_password.encode("utf-8"), _tag=tag
        )
    csr = builder.sign(key, hash_algorithm(digest))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _sign(key: keys.PrivateKey, data: bytes, digest: str) -> tuple[bytes, bytes]:
    """(AlgorithmIdentifier DER, signature) for `data` signed with `key`."""
    name = _digest_name(digest)
    algorithm = hash_algorithm(name)
    if isinstance(key, rsa.RSAPrivateKey):
        alg_id = der.sequence(der.oid(_RSA_SIG_OIDS[name]), der.tlv(der.NULL, b""))
        return alg_id, key.sign(data, padding.PKCS1v15(), algorithm)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return der.sequence(der.oid(_EC_SIG_OIDS[name])), key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, dsa.DSAPrivateKey) and name in _DSA_SIG_OIDS:
        return der.sequence(der.oid(_DSA_SIG_OIDS[name])), key.sign(data, algorithm)
    raise ValueError(f"cannot sign with {type(key).__name__} and {digest}")


def build_spkac(key_pem: bytes, challenge: str = "", digest: str = "sha256") -> str:
    """A base64 Netscape SignedPublicKeyAndChallenge for the key (no line breaks)."""
    key = keys.load_private_key(key_pem)
    pkac = der.sequence(keys.spki_der(key), der.tlv(der.IA5_STRING, challenge.encode("utf-8")))
    alg_id, signature = _sign(key, pkac, digest)
    spkac = der.sequence(pkac, alg_id, der.bit_string(signature))
    return base64.b64encode(spkac).decode("ascii")


def spki_b64(key_pem: bytes) -> str:
    """The key's SubjectPublicKeyInfo, DER in base64 (CERTMONGER_SPKI)."""
    return keys.spki_b64(key_pem)


@dataclass
class CsrInfo:
    """What get_csr_info reports about a request's CSR."""

    subject: str = ""
    emails: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)
    ku: int = 0
    eku: list[str] = field(default_factory=list)


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    """The CSR in PEM text, `CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST` armor."""
    text = pem.replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST")
    return x509.load_pem_x509_csr(text.encode("ascii", "replace"))


def requested_extensions(csr: x509.CertificateSigningRequest) -> list[extensions.RawExtension]:
    """The extensions a CSR's extensionRequest attribute holds, exactly as encoded."""
    info = der.children(der.read_one(csr.tbs_certrequest_bytes, der.SEQUENCE))
    out: list[extensions.RawExtension] = []
    for tag, content in info[3:]:
        if tag != der.context(0):
            continue
        for atag, attribute in der.children(content):
            parts = der.children(attribute) if atag == der.SEQUENCE else []
            if len(parts) != 2 or parts[0][0] != der.OID:
                continue
            if der.decode_oid(parts[0][1]) != extensions.OID_EXTENSION_REQUEST:
                continue
            for vtag, _content, encoded in der.raw_children(parts[1][1]):
                if vtag == der.SEQUENCE:
                    out.extend(extensions.parse_extension_list(encoded))
    return out


def read_csr_info(pem: str) -> CsrInfo:
    """Subject, SAN values, key usage and EKU of a PEM CSR; ValueError if it is not one."""
    csr = load_csr(pem)
    fields = extensions.read_extensions(requested_extensions(csr))
    return CsrInfo(
        subject=names.format_name(csr.subject),
        emails=fields.emails,
        dns=fields.hostnames,
        principals=fields.principals,
        ku=names.ku_int_from_bits(fields.ku),
        eku=fields.eku,
    )
