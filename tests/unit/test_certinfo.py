"""Reading a certificate back into certmonger's `cert_*` fields."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pycertmonger.crypto import certinfo, der
from pycertmonger.model import Request
from tests.unit._stock_records import stock_request

KEY = ec.generate_private_key(ec.SECP256R1())


def make_cert(*exts: tuple[x509.ExtensionType, bool], serial: int = 1) -> str:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")])
    start = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(KEY.public_key()).serial_number(serial)
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1)))
    for ext, critical in exts:
        builder = builder.add_extension(ext, critical)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("name", ["ss1", "loc1", "nss1"])
def test_stock_cert_reads_back_to_the_stock_record_values(name: str) -> None:
    record = stock_request(name)
    info = certinfo.read_cert_info(record.cert)
    for f in dataclasses.fields(info):
        assert getattr(info, f.name) == getattr(record, f.name), f.name


def test_apply_to_copies_every_field_onto_the_request() -> None:
    record = stock_request("ss1")
    request = Request(nickname="x", cert_hostname=["stale.test"], cert_is_ca=True)
    certinfo.read_cert_info(record.cert).apply_to(request)
    assert request.cert_hostname == ["ss1.example.test"]
    assert request.cert_is_ca is False
    assert request.cert_serial == "01"
    assert request.cert == record.cert


def test_serial_keeps_the_leading_zero_octet() -> None:
    info = certinfo.read_cert_info(make_cert(serial=0x80 << 120))
    assert info.cert_serial == "0080" + "00" * 15


def test_times_are_unix_seconds() -> None:
    info = certinfo.read_cert_info(make_cert())
    assert info.cert_not_before == 1893456000
    assert info.cert_not_after == 1893456000 + 86400


def test_ca_without_path_length_reads_as_unlimited() -> None:
    info = certinfo.read_cert_info(make_cert((x509.BasicConstraints(True, None), True)))
    assert (info.cert_is_ca, info.cert_ca_path_length) == (True, -2)


def test_ca_path_length_is_read() -> None:
    info = certinfo.read_cert_info(make_cert((x509.BasicConstraints(True, 0), True)))
    assert (info.cert_is_ca, info.cert_ca_path_length) == (True, 0)


def test_no_basic_constraints_means_not_a_ca() -> None:
    info = certinfo.read_cert_info(make_cert())
    assert (info.cert_is_ca, info.cert_ca_path_length) == (False, -1)


def test_key_usage_keeps_the_encoded_bit_count() -> None:
    # A non-DER key usage with explicit trailing zero bits: certmonger reports every bit.
    ku = x509.UnrecognizedExtension(x509.OID_KEY_USAGE, bytes.fromhex("030200A0"))
    assert certinfo.read_cert_info(make_cert((ku, True))).cert_ku == "10100000"


def test_malformed_extension_is_skipped_and_the_rest_read() -> None:
    bad_ku = x509.UnrecognizedExtension(x509.OID_KEY_USAGE, b"\x05\x00")
    san = x509.SubjectAlternativeName([x509.DNSName("a.test"), x509.DNSName("a.test")])
    info = certinfo.read_cert_info(make_cert((bad_ku, False), (san, False)))
    assert info.cert_ku == ""
    assert info.cert_hostname == ["a.test"]


def test_principals_from_krb5_and_upn_are_deduplicated() -> None:
    krb5 = stock_request("ss1")
    assert certinfo.read_cert_info(krb5.cert).cert_principal == [
        "host/ss1.example.test@EXAMPLE.TEST"]


def test_ip_addresses_are_text() -> None:
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                                       x509.IPAddress(ipaddress.ip_address("192.0.2.7"))])
    assert certinfo.read_cert_info(make_cert((san, False))).cert_ipaddress == [
        "2001:db8::1", "192.0.2.7"]


def test_ns_certtype_is_named() -> None:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.16.840.1.113730.1.1"),
                                     der.bit_string_from_flags("11000100"))
    assert certinfo.read_cert_info(make_cert((ext, False))).cert_ns_certtype == \
        "client,server,sslCA"


def test_first_certificate_is_found_among_noise_and_normalised() -> None:
    pem = make_cert()
    body = "".join(pem.splitlines()[1:-1])
    messy = ("junk before\n-----BEGIN CERTIFICATE-----\r\n" + body[:76] + "\r\n" + body[76:]
             + "\r\n-----END CERTIFICATE-----\nafter\n" + make_cert(serial=2))
    assert certinfo.first_certificate_pem(messy) == pem


def test_no_certificate_gives_none() -> None:
    assert certinfo.first_certificate_pem("nothing here") is None
    assert certinfo.first_certificate_pem(
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n") is None


def test_reading_text_without_a_certificate_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        certinfo.read_cert_info("no cert")
