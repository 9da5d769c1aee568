"""certmonger's spellings: subjects, key usage bits, EKU names, Kerberos principal names."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from pycertmonger.crypto import der, names

# From the stock request fixture ss1: the SAN's Kerberos otherName value.
STOCK_KRB5_DER = bytes.fromhex(
    "3035A00E1B0C4558414D504C452E54455354A1233021A003020101A11A30181B04686F73741B107373"
    "312E6578616D706C652E74657374")
# The stock local CA's issuer name (fixture loc1, cert_issuer_der).
STOCK_LOCAL_ISSUER_DER = bytes.fromhex(
    "30503120301E06035504030C174C6F63616C205369676E696E6720417574686F72697479312C302A0603"
    "5504030C2330623132613261362D33353838343937372D39353839353763382D3636393534343537")


# --- subjects --------------------------------------------------------------------------

def test_subject_rdns_are_encoded_in_the_order_written() -> None:
    name = names.parse_subject("CN=ao,O=Example")
    assert [next(iter(rdn)).oid for rdn in name.rdns] == [
        NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME]


def test_subject_is_shown_last_rdn_first() -> None:
    assert names.format_name(names.parse_subject("CN=ao,O=Example")) == "O=Example,CN=ao"


def test_ascii_common_name_is_a_printable_string_like_certmonger() -> None:
    der_name = names.parse_subject("CN=ss1.example.test").public_bytes()
    assert der_name.hex().upper() == "301B31193017060355040313107373312E6578616D706C652E74657374"


def test_common_name_outside_printable_string_is_utf8() -> None:
    attr = next(iter(names.parse_subject("CN=*.example.test")))
    assert attr._type == _ASN1Type.UTF8String


def test_organization_is_utf8_and_country_printable() -> None:
    o, c = list(names.parse_subject("O=Example,C=US"))
    assert o._type == _ASN1Type.UTF8String
    assert c._type == _ASN1Type.PrintableString


@pytest.mark.parametrize(("text", "oid"), [
    ("E=a@b.test", NameOID.EMAIL_ADDRESS), ("EMAIL=a@b.test", NameOID.EMAIL_ADDRESS),
    ("emailAddress=a@b.test", NameOID.EMAIL_ADDRESS), ("UID=me", NameOID.USER_ID),
    ("DC=test", NameOID.DOMAIN_COMPONENT), ("serialNumber=42", NameOID.SERIAL_NUMBER),
    ("SN=Smith", NameOID.SURNAME), ("GN=Ann", NameOID.GIVEN_NAME), ("L=Town", NameOID.LOCALITY_NAME),
    ("ST=State", NameOID.STATE_OR_PROVINCE_NAME), ("OU=Unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("cn=lower", NameOID.COMMON_NAME), ("2.5.4.3=dotted", NameOID.COMMON_NAME),
    ("OID.2.5.4.3=dotted", NameOID.COMMON_NAME),
])
def test_attribute_names_are_recognised(text: str, oid: x509.ObjectIdentifier) -> None:
    assert next(iter(names.parse_subject(text))).oid == oid


def test_escaped_comma_stays_in_the_value() -> None:
    name = names.parse_subject(r"CN=a\,b,O=Example")
    assert [a.value for a in name] == ["a,b", "Example"]


def test_quoted_value_may_hold_commas() -> None:
    name = names.parse_subject('O="Example, Inc.",CN=host')
    assert [a.value for a in name] == ["Example, Inc.", "host"]


def test_plus_joins_attributes_into_one_rdn() -> None:
    name = names.parse_subject("CN=a+UID=b,O=c")
    assert len(name.rdns) == 2
    assert len(list(name.rdns[0])) == 2


def test_part_without_equals_is_a_common_name() -> None:
    assert names.format_name(names.parse_subject("myhost")) == "CN=myhost"


def test_empty_subject_is_an_empty_name() -> None:
    assert list(names.parse_subject("  ")) == []


@pytest.mark.parametrize("text", ["=value", "FOO=bar", 'CN="unterminated', "CN=a,,O=b",
                                  "CN=", "CN=a\\", "C=USA"])
def test_garbage_subject_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        names.parse_subject(text)


def test_local_ca_issuer_is_shown_uuid_first() -> None:
    assert names.format_name(_name_from_der(STOCK_LOCAL_ISSUER_DER)) == (
        "CN=0b12a2a6-35884977-958957c8-66954457,CN=Local Signing Authority")


def _name_from_der(data: bytes) -> x509.Name:
    """An x509.Name holding exactly the RDNs of a DER name (UTF8String values)."""
    rdns = []
    for _tag, rdn in der.children(der.read_one(data, der.SEQUENCE)):
        attrs = []
        for _t, ava in der.children(rdn):
            (_, oid), (_, value) = der.children(ava)
            attrs.append(x509.NameAttribute(x509.ObjectIdentifier(der.decode_oid(oid)),
                                            value.decode()))
        rdns.append(x509.RelativeDistinguishedName(attrs))
    return x509.Name(rdns)


def test_name_rebuilt_from_stock_der_encodes_identically() -> None:
    assert _name_from_der(STOCK_LOCAL_ISSUER_DER).public_bytes() == STOCK_LOCAL_ISSUER_DER


def test_special_characters_are_shown_quoted() -> None:
    shown = names.format_name(names.parse_subject('CN=host,O="Example, Inc."'))
    assert shown == 'O="Example, Inc.",CN=host'


def test_email_attribute_is_shown_as_e() -> None:
    assert names.format_name(names.parse_subject("CN=a,EMAIL=x@y.test")) == "E=x@y.test,CN=a"


def test_shown_subject_parses_back_to_the_same_rdns_reversed() -> None:
    original = names.parse_subject('CN=a\\,b,O="Ex, Inc.",C=US')
    reparsed = names.parse_subject(names.format_name(original))
    assert [next(iter(r)).value for r in reparsed.rdns] == [
        next(iter(r)).value for r in reversed(original.rdns)]


# --- key usage -------------------------------------------------------------------------

@pytest.mark.parametrize(("ku_names", "bits"), [
    (["digitalSignature", "keyEncipherment"], "101"),
    (["cRLSign"], "0000001"),
    (["nonRepudiation", "keyCertSign"], "010001"),
    (["digitalSignature"], "1"),
    (["contentCommitment"], "01"),
    (["KEYAGREEMENT", "decipherOnly"], "000010001"),
    ([], ""),
])
def test_key_usage_names_to_bits(ku_names: list[str], bits: str) -> None:
    assert names.ku_bits_from_names(ku_names) == bits


def test_unknown_key_usage_name_is_refused() -> None:
    with pytest.raises(ValueError):
        names.ku_bits_from_names(["signEverything"])


def test_key_usage_bits_to_names() -> None:
    assert names.ku_names_from_bits("010001") == ["nonRepudiation", "keyCertSign"]


def test_key_usage_bits_to_dbus_integer() -> None:
    assert names.ku_int_from_bits("101") == 5
    assert names.ku_int_from_bits("0000001") == 64
    assert names.ku_bits_from_int(5) == "101"


def test_key_usage_extension_round_trip() -> None:
    ext = names.ku_extension_from_bits("1000011")
    assert ext.digital_signature and ext.key_cert_sign and ext.crl_sign
    assert names.ku_bits_from_extension(ext) == "1000011"


def test_encipher_only_without_key_agreement_has_no_extension_form() -> None:
    with pytest.raises(ValueError):
        names.ku_extension_from_bits("00000001")


# --- EKU -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "oid"), list(names.EKU_NAMES.items()))
def test_eku_names_map_to_their_oids(name: str, oid: str) -> None:
    assert names.eku_oid(name) == oid
    assert names.eku_display(oid) == name


def test_eku_oid_passes_dotted_oids_through() -> None:
    assert names.eku_oid("1.2.3.4") == "1.2.3.4"
    assert names.eku_display("1.2.3.4") == "1.2.3.4"


@pytest.mark.parametrize("junk", ["serverAuth", "1..2", "1.2.x", ""])
def test_eku_junk_is_refused(junk: str) -> None:
    with pytest.raises(ValueError):
        names.eku_oid(junk)


# --- principals ------------------------------------------------------------------------

def test_krb5_principal_der_matches_certmonger() -> None:
    assert names.krb5_principal_der("host/ss1.example.test@EXAMPLE.TEST") == STOCK_KRB5_DER


def test_krb5_principal_der_reads_back() -> None:
    assert names.principal_from_krb5_der(STOCK_KRB5_DER) == "host/ss1.example.test@EXAMPLE.TEST"


def test_escaped_separators_survive_a_round_trip() -> None:
    text = r"we\/ird\@name/inst@REALM"
    _type, components, realm = names.parse_principal(text)
    assert components == ["we/ird@name", "inst"]
    assert realm == "REALM"
    assert names.principal_from_krb5_der(names.krb5_principal_der(text)) == text


def test_principal_without_realm_takes_the_default_realm() -> None:
    assert names.parse_principal("user", "EXAMPLE.TEST") == (1, ["user"], "EXAMPLE.TEST")


def test_krbtgt_principal_is_a_service_instance() -> None:
    assert names.parse_principal("krbtgt/A.TEST@A.TEST")[0] == names.KRB5_NT_SRV_INST


@pytest.mark.parametrize("bad", ["", "a@B@C", "@REALM", "trailing\\"])
def test_bad_principal_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        names.parse_principal(bad)


def test_upn_is_a_utf8_string() -> None:
    assert names.upn_der("a@B") == b"\x0c\x03a@B"
    assert names.principal_from_upn_der(b"\x0c\x03a@B") == "a@B"


def test_each_principal_gives_a_upn_then_a_krb5_other_name() -> None:
    upn, krb5 = names.principal_general_names("host/ss1.example.test@EXAMPLE.TEST")
    assert upn.type_id == names.MS_UPN_OID
    assert krb5.type_id == names.KRB5_PRINCIPAL_NAME_OID
    assert krb5.value == STOCK_KRB5_DER
    assert names.principal_from_other_name(upn) == names.principal_from_other_name(krb5)
