"""Key usage, EKU, mode and key size values read and shown the way getcert does."""

from __future__ import annotations

import pytest

from pycertmonger.getcert import values


def test_key_usage_names_are_matched_ignoring_case():
    assert values.ku_bit("DIGITALSIGNATURE") == 0
    assert values.ku_bit("cRLSign") == 6


def test_content_commitment_is_an_alias_for_non_repudiation():
    assert values.ku_bit("contentCommitment") == 1
    assert values.ku_name(1) == "nonRepudiation"


def test_unknown_key_usage_name_is_none():
    assert values.ku_bit("bogus") is None


@pytest.mark.parametrize(("mask", "bits"), [(0b101, "101"), (1 << 6, "0000001"),
                                            (0b100010, "010001"), (1, "1"), (0, "")])
def test_key_usage_bit_string_puts_bit_0_first_and_drops_trailing_zeros(mask, bits):
    assert values.ku_bitstring(mask) == bits


def test_key_usage_names_come_in_bit_order_without_unknown_bits():
    assert values.ku_names(0b101 | 1 << 12) == ["digitalSignature", "keyEncipherment"]


@pytest.mark.parametrize(("name", "oid"), [
    ("id-kp-serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("ID-KP-SERVERAUTH", "1.3.6.1.5.5.7.3.1"),
    ("id-kp-serverAuth.5", "1.3.6.1.5.5.7.3.1.5"),
    ("id-kp", "1.3.6.1.5.5.7.3"),
    ("id-pkix", "1.3.6.1.5.5.7"),
    ("id-pkinit-KPKdc", "1.3.6.1.5.2.3.5"),
    ("id-ms-kp-sc-logon", "1.3.6.1.4.1.311.20.2.2"),
    ("1.2.3.4", "1.2.3.4"),
    (".1", ".1"),
    ("01.2", "01.2"),
])
def test_eku_names_expand_to_dotted_oids(name, oid):
    assert values.oid_from_name(name) == oid


@pytest.mark.parametrize("name", ["serverAuth", "id-kp-ipsecIKE", "1.2 ", "1.2.x"])
def test_eku_that_does_not_expand_to_digits_and_dots_is_refused(name):
    assert values.oid_from_name(name) is None


@pytest.mark.parametrize(("oid", "shown"), [
    ("1.3.6.1.5.5.7.3.1", "id-kp-serverAuth"),
    ("1.3.6.1.5.5.7.3.17", "id-kp.17"),
    ("1.3.6.1.5.9", "iso.org.dod.internet.security.9"),
    ("1.2.3.4", "1.2.3.4"),
])
def test_oids_are_shown_by_their_longest_name(oid, shown):
    assert values.oid_to_name(oid) == shown


@pytest.mark.parametrize(("text", "mode"), [
    ("0640", 0o640), ("644", 0o644), ("abc", 0), ("999", 0), ("0x1ff", 0), ("-5", -5),
    ("7a", 7),
])
def test_modes_are_read_as_octal_like_strtol(text, mode):
    assert values.octal_mode(text) == mode


@pytest.mark.parametrize(("text", "size"), [("2048", 2048), ("12abc", 12), ("abc", 0),
                                            ("-5", -5)])
def test_key_sizes_are_read_like_atoi(text, size):
    assert values.atoi(text) == size


@pytest.mark.parametrize("name", ["RSA", "rsa", "EC", "ecdsa"])
def test_supported_key_types(name):
    assert values.key_type_supported(name)


def test_dsa_is_not_a_supported_key_type():
    assert not values.key_type_supported("DSA")
