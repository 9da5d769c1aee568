"""certmonger's spellings of names and usages: subjects, key usage, EKU, principal names.

* Subjects are written as `getcert -N` takes them (`CN=ao,O=Example`: RDNs in the order
  written) and shown the way certmonger shows them (NSS style: last RDN first, comma
  joined, no spaces: `O=Example,CN=ao`).
* Key usage travels as a string of `0`/`1` characters, character *i* being bit *i*
  of the keyUsage BIT STRING, trailing zeros dropped (`"101"`), or as an integer with
  bit *i* = 2**i on D-Bus.
* Kerberos principals go into a subjectAltName twice, as a KRB5PrincipalName otherName
  (RFC 4556 §3.2.2) and as a Microsoft UPN otherName, as certmonger does.
"""

from __future__ import annotations

import ipaddress
import re

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from . import der

# --- Subject names ---------------------------------------------------------------------

# Attribute keywords accepted in `-N`, upper-cased, with their OIDs.
SUBJECT_ATTRIBUTES: dict[str, ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "COMMONNAME": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "ORGANIZATIONNAME": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "ORGANIZATIONALUNITNAME": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "LOCALITYNAME": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "STATEORPROVINCENAME": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
    "COUNTRYNAME": NameOID.COUNTRY_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "STREETADDRESS": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "DOMAINCOMPONENT": NameOID.DOMAIN_COMPONENT,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "UID": NameOID.USER_ID,
    "USERID": NameOID.USER_ID,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "SN": NameOID.SURNAME,
    "SURNAME": NameOID.SURNAME,
    "GN": NameOID.GIVEN_NAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "TITLE": NameOID.TITLE,
    "INITIALS": NameOID.INITIALS,
    "GENERATIONQUALIFIER": NameOID.GENERATION_QUALIFIER,
    "DNQUALIFIER": NameOID.DN_QUALIFIER,
    "PSEUDONYM": NameOID.PSEUDONYM,
    "POSTALCODE": NameOID.POSTAL_CODE,
    "POSTALADDRESS": NameOID.POSTAL_ADDRESS,
    "BUSINESSCATEGORY": NameOID.BUSINESS_CATEGORY,
}

# The keywords NSS prints (certmonger shows names through NSS); others print as OID.x.y.
_DISPLAY_KEYWORDS: dict[ObjectIdentifier, str] = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.COUNTRY_NAME: "C",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.USER_ID: "UID",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.POSTAL_ADDRESS: "postalAddress",
}

# certmonger's CSR generator falls back to this subject when the request has none.
DEFAULT_SUBJECT = "CN=localhost"

_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*\Z")


def _split_unescaped(text: str, separators: str) -> list[str]:
    """Split at separators outside quotes and not escaped; the pieces keep their escapes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ValueError(f"dangling escape in {text!r}")
            current.append(text[i:i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c in separators and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    if quoted:
        raise ValueError(f"unterminated quote in {text!r}")
    parts.append("".join(current))
    return parts


def _unescape_value(raw: str) -> str:
    """An attribute value with RFC 4514 escapes and surrounding quotes removed."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"' and not raw.endswith('\\"'):
        raw = raw[1:-1]
    elif '"' in raw.replace('\\"', ""):
        raise ValueError(f"misplaced quote in {raw!r}")
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            nxt = raw[i + 1:i + 3]
            if len(nxt) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in nxt):
                out.append(int(nxt, 16))
                i += 3
                continue
            out.extend(raw[i + 1].encode())
            i += 2
            continue
        out.extend(c.encode())
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"bad escaped UTF-8 in {raw!r}") from None


def _attribute_oid(keyword: str) -> ObjectIdentifier:
    key = keyword.strip()
    if not key:
        raise ValueError("empty attribute name")
    upper = key.upper()
    if upper in SUBJECT_ATTRIBUTES:
        return SUBJECT_ATTRIBUTES[upper]
    if upper.startswith("OID."):
        key = key[4:]
    try:
        der.oid_content(key)
    except ValueError:
        raise ValueError(f"unknown attribute {keyword.strip()!r}") from None
    return ObjectIdentifier(key)


def _name_attribute(oid: ObjectIdentifier, value: str) -> x509.NameAttribute:
    if not value:
        raise ValueError(f"empty value for {oid.dotted_string}")
    if oid == NameOID.COMMON_NAME and _PRINTABLE.match(value):
        # certmonger encodes an ASCII CN as PrintableString (stock CSRs show it); a value
        # with characters PrintableString lacks (`*`, `@`, `_`) stays UTF8String so that
        # the result is valid DER.
        return x509.NameAttribute(oid, value, _type=_ASN1Type.PrintableString)
    return x509.NameAttribute(oid, value)


def parse_subject(text: str) -> x509.Name:
    """The x509 Name for a `getcert -N` subject, RDNs in the order written.

    `,` separates RDNs and `+` joins attributes into one RDN; values may be quoted or use
    RFC 4514 backslash escapes.  A part without `=` is a CN, as certmonger treats it.
    An empty text gives an empty name.  ValueError when the text makes no sense.
    """
    if not text.strip():
        return x509.Name([])
    rdns: list[x509.RelativeDistinguishedName] = []
    for rdn_text in _split_unescaped(text, ","):
        if not rdn_text.strip():
            raise ValueError(f"empty name component in {text!r}")
        attributes = []
        for ava in _split_unescaped(rdn_text, "+"):
            pieces = _split_unescaped(ava, "=")
            if len(pieces) == 1:
                oid, value = NameOID.COMMON_NAME, _unescape_value(pieces[0])
            else:
                oid = _attribute_oid(pieces[0])
                value = _unescape_value(ava[len(pieces[0]) + 1:])
            attributes.append(_name_attribute(oid, value))
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


def _quote_display(value: str) -> str:
    # NSS quotes a value holding a special character or edge whitespace, escaping
    # `"` and `\` inside the quotes.
    special = any(c in value for c in ',+=<>#;"\\\r\n')
    if special or value != value.strip() or value.startswith("#") or not value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def format_name(name: x509.Name) -> str:
    """certmonger's display of a name: last RDN first, `,` between RDNs, no spaces."""
    out = []
    for rdn in reversed(list(name.rdns)):
        avas = []
        for attr in rdn:
            keyword = _DISPLAY_KEYWORDS.get(attr.oid, f"OID.{attr.oid.dotted_string}")
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            avas.append(f"{keyword}={_quote_display(value)}")
        out.append("+".join(avas))
    return ",".join(out)


# --- Key usage -------------------------------------------------------------------------

KU_NAMES = (
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
)
_KU_ALIASES = {"contentcommitment": 1}
_KU_INDEX = {name.lower(): i for i, name in enumerate(KU_NAMES)} | _KU_ALIASES


def ku_bits_from_names(names: list[str]) -> str:
    """The bit string for key-usage names (case-insensitive); ValueError on an unknown one."""
    bits = ["0"] * len(KU_NAMES)
    for name in names:
        try:
            bits[_KU_INDEX[name.strip().lower()]] = "1"
        except KeyError:
            raise ValueError(f"unknown key usage {name!r}") from None
    return "".join(bits).rstrip("0")


def _check_bits(bits: str) -> str:
    if any(c not in "01" for c in bits):
        raise ValueError(f"not a key-usage bit string: {bits!r}")
    return bits


def ku_names_from_bits(bits: str) -> list[str]:
    """The names of the bits set in a key-usage bit string, in bit order."""
    return [KU_NAMES[i] for i, c in enumerate(_check_bits(bits)[:len(KU_NAMES)]) if c == "1"]


def ku_int_from_bits(bits: str) -> int:
    """The D-Bus integer form of a key-usage bit string (bit i = 2**i)."""
    return sum(1 << i for i, c in enumerate(_check_bits(bits)) if c == "1")


def ku_bits_from_int(value: int) -> str:
    """The bit string for the D-Bus integer form of a key usage."""
    if value < 0:
        raise ValueError(f"not a key-usage value: {value}")
    return "".join("1" if value >> i & 1 else "0" for i in range(value.bit_length()))


def ku_bits_from_extension(ku: x509.KeyUsage) -> str:
    """The bit string for a keyUsage extension value."""
    agreement = ku.key_agreement
    flags = [
        ku.digital_signature,
        ku.content_commitment,
        ku.key_encipherment,
        ku.data_encipherment,
        agreement,
        ku.key_cert_sign,
        ku.crl_sign,
        agreement and ku.encipher_only,
        agreement and ku.decipher_only,
    ]
    return "".join("1" if f else "0" for f in flags).rstrip("0")


def ku_extension_from_bits(bits: str) -> x509.KeyUsage:
    """A keyUsage extension value from a bit string.

    ValueError for encipherOnly/decipherOnly without keyAgreement, which RFC 5280
    §4.2.1.3 leaves undefined and `cryptography` refuses.
    """
    flags = [c == "1" for c in _check_bits(bits).ljust(len(KU_NAMES), "0")[:len(KU_NAMES)]]
    return x509.KeyUsage(
        digital_signature=flags[0],
        content_commitment=flags[1],
        key_encipherment=flags[2],
        data_encipherment=flags[3],
        key_agreement=flags[4],
        key_cert_sign=flags[5],
        crl_sign=flags[6],
        encipher_only=flags[7],
        decipher_only=flags[8],
    )


# --- Extended key usage ----------------------------------------------------------------

EKU_NAMES: dict[str, str] = {
    "id-kp-serverAuth": "1.3.6.1.5.5.7.3.1",
    "id-kp-clientAuth": "1.3.6.1.5.5.7.3.2",
    "id-kp-codeSigning": "1.3.6.1.5.5.7.3.3",
    "id-kp-emailProtection": "1.3.6.1.5.5.7.3.4",
    "id-kp-timeStamping": "1.3.6.1.5.5.7.3.8",
    "id-kp-OCSPSigning": "1.3.6.1.5.5.7.3.9",
    "id-pkinit-KPClientAuth": "1.3.6.1.5.2.3.4",
    "id-pkinit-KPKdc": "1.3.6.1.5.2.3.5",
    "id-ms-kp-sc-logon": "1.3.6.1.4.1.311.20.2.2",
}
_EKU_BY_LOWER = {name.lower(): oid for name, oid in EKU_NAMES.items()}
_EKU_BY_OID = {oid: name for name, oid in EKU_NAMES.items()}


def eku_oid(name_or_oid: str) -> str:
    """The dotted OID for an EKU name or OID; ValueError when it is neither."""
    text = name_or_oid.strip()
    if text.lower() in _EKU_BY_LOWER:
        return _EKU_BY_LOWER[text.lower()]
    der.oid_content(text)  # raises ValueError for junk
    return text


def eku_display(oid: str) -> str:
    """The name getcert shows for an EKU OID, or the OID when it has no name."""
    return _EKU_BY_OID.get(oid, oid)


# --- Principal names -------------------------------------------------------------------

KRB5_PRINCIPAL_NAME_OID = ObjectIdentifier("1.3.6.1.5.2.2")
MS_UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
KRB5_NT_PRINCIPAL = 1
KRB5_NT_SRV_INST = 2

_KRB5_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "0": "\0"}
_KRB5_UNESCAPES = {v: k for k, v in _KRB5_ESCAPES.items()}


def parse_principal(text: str, default_realm: str = "") -> tuple[int, list[str], str]:
    """A principal `name/inst@REALM` as (name type, components, realm), as krb5 parses it.

    `\\` escapes a separator; a missing realm is `default_realm`.  The name type is
    NT-PRINCIPAL, except NT-SRV-INST for `krbtgt/...` as MIT krb5 assigns it.
    """
    if not text:
        raise ValueError("empty principal name")
    components: list[str] = []
    current: list[str] = []
    realm: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ValueError(f"dangling escape in principal {text!r}")
            nxt = text[i + 1]
            current.append(_KRB5_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if c == "/" and realm is None:
            components.append("".join(current))
            current = []
        elif c == "@":
            if realm is not None:
                raise ValueError(f"more than one realm in principal {text!r}")
            components.append("".join(current))
            current = []
            realm = ""
        else:
            current.append(c)
        i += 1
    if realm is None:
        components.append("".join(current))
        realm = default_realm
    else:
        realm = "".join(current)
    if not any(components):
        raise ValueError(f"principal {text!r} has no name")
    name_type = KRB5_NT_PRINCIPAL
    if len(components) == 2 and components[0] == "krbtgt":
        name_type = KRB5_NT_SRV_INST
    return name_type, components, realm


def _krb5_escape(part: str, specials: str) -> str:
    out = []
    for c in part:
        if c in _KRB5_UNESCAPES:
            out.append("\\" + _KRB5_UNESCAPES[c])
        elif c in specials:
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def unparse_principal(components: list[str], realm: str) -> str:
    """The text form of a principal, escaped as krb5_unparse_name does."""
    name = "/".join(_krb5_escape(c, "/@\\") for c in components)
    if not realm:
        return name
    return name + "@" + _krb5_escape(realm, "@\\")


def krb5_principal_der(principal: str, default_realm: str = "") -> bytes:
    """The KRB5PrincipalName DER (RFC 4556 §3.2.2) for a principal's text form."""
    name_type, components, realm = parse_principal(principal, default_realm)
    strings = [der.tlv(der.GENERAL_STRING, c.encode("utf-8")) for c in components]
    principal_name = der.sequence(
        der.explicit(0, der.integer(name_type)),
        der.explicit(1, der.sequence(*strings)),
    )
    return der.sequence(
        der.explicit(0, der.tlv(der.GENERAL_STRING, realm.encode("utf-8"))),
        der.explicit(1, principal_name),
    )


def principal_from_krb5_der(data: bytes) -> str:
    """The text form of a KRB5PrincipalName DER value."""
    fields = dict(der.children(der.read_one(data, der.SEQUENCE)))
    realm = der.read_one(fields[der.context(0)], der.GENERAL_STRING).decode("utf-8")
    pn = dict(der.children(der.read_one(fields[der.context(1)], der.SEQUENCE)))
    seq = der.read_one(pn[der.context(1)], der.SEQUENCE)
    components = [c.decode("utf-8") for tag, c in der.children(seq) if tag == der.GENERAL_STRING]
    return unparse_principal(components, realm)


def upn_der(principal: str) -> bytes:
    """The Microsoft UPN otherName value: the principal text as a UTF8String."""
    return der.tlv(der.UTF8_STRING, principal.encode("utf-8"))


def principal_from_upn_der(data: bytes) -> str:
    """The text of a UPN otherName value."""
    return der.read_one(data, der.UTF8_STRING).decode("utf-8")


def principal_general_names(principal: str) -> list[x509.GeneralName]:
    """The two otherNames certmonger puts in a SAN for one principal: UPN, then KRB5."""
    return [
        x509.OtherName(MS_UPN_OID, upn_der(principal)),
        x509.OtherName(KRB5_PRINCIPAL_NAME_OID, krb5_principal_der(principal)),
    ]


def principal_from_other_name(name: x509.OtherName) -> str | None:
    """The principal an otherName holds (KRB5 or UPN), or None for other kinds."""
    try:
        if name.type_id == KRB5_PRINCIPAL_NAME_OID:
            return principal_from_krb5_der(name.value)
        if name.type_id == MS_UPN_OID:
            return principal_from_upn_der(name.value)
    except (ValueError, KeyError, UnicodeDecodeError):
        return None
    return None


def ip_general_name(text: str) -> x509.IPAddress:
    """An iPAddress general name from IPv4 or IPv6 text; ValueError otherwise."""
    return x509.IPAddress(ipaddress.ip_address(text.strip()))
