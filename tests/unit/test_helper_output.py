"""Reading helper answers: issued certificates, FETCH-ROOTS, lists, cookies and delays."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from pycertmonger.cas.helper_output import (
    EnvelopedDataError,
    HelperOutputError,
    first_line,
    parse_delay_and_cookie,
    parse_issued,
    parse_list,
    parse_roots,
    requirement_properties,
    sanitize_cookie,
)
from tests.unit._helper_certs import Hierarchy, make_cert, make_hierarchy, pkcs7_bundle


@pytest.fixture(scope="module")
def h() -> Hierarchy:
    return make_hierarchy()


# --- parse_issued: plain data ----------------------------------------------------------


def test_single_pem_certificate_is_the_leaf_with_no_chain(h):
    assert parse_issued(h.leaf.pem.encode()) == (h.leaf.pem, [], [])


def test_noise_around_the_pem_is_ignored(h):
    out = f"Request 42 approved.\n{h.leaf.pem}Have a nice day\n".encode()
    assert parse_issued(out)[0] == h.leaf.pem


def test_missing_final_newline_is_tolerated(h):
    assert parse_issued(h.leaf.pem.rstrip("\n").encode())[0] == h.leaf.pem


def test_crlf_line_ends_are_tolerated(h):
    assert parse_issued(h.leaf.pem.replace("\n", "\r\n").encode())[0] == h.leaf.pem


def test_leaf_is_found_whatever_the_order(h):
    out = (h.root.pem + h.leaf.pem + h.inter.pem).encode()
    assert parse_issued(out)[0] == h.leaf.pem


def test_chain_is_ordered_upward_with_the_top_most_last(h):
    out = (h.root.pem + h.leaf.pem + h.inter.pem).encode()
    _, chain, roots = parse_issued(out)
    assert chain == [("chain #1", h.inter.pem), ("chain #2", h.root.pem)]
    assert roots == []


def test_chain_order_works_from_names_when_key_identifiers_are_absent():
    root = make_cert("Bare Root", ca=True, key_ids=False)
    inter = make_cert("Bare Intermediate", root, ca=True, key_ids=False)
    leaf = make_cert("Bare Leaf", inter, key_ids=False)
    out = (inter.pem + root.pem + leaf.pem).encode()
    assert parse_issued(out) == (leaf.pem, [("chain #1", inter.pem), ("chain #2", root.pem)], [])


def test_repeated_certificates_are_counted_once(h):
    out = (h.leaf.pem + h.inter.pem + h.leaf.pem + h.inter.pem).encode()
    assert parse_issued(out) == (h.leaf.pem, [("chain #1", h.inter.pem)], [])


def test_pem_pkcs7_bundle_is_taken_apart(h):
    out = pkcs7_bundle(h.root, h.inter, h.leaf, pem=True)
    assert b"BEGIN PKCS7" in out
    assert parse_issued(out) == (
        h.leaf.pem, [("chain #1", h.inter.pem), ("chain #2", h.root.pem)], [])


def test_der_pkcs7_bundle_is_taken_apart(h):
    out = pkcs7_bundle(h.inter, h.leaf, pem=False)
    assert parse_issued(out) == (h.leaf.pem, [("chain #1", h.inter.pem)], [])


def test_single_der_certificate_is_accepted(h):
    assert parse_issued(h.leaf.der) == (h.leaf.pem, [], [])


def test_pem_certificates_and_pkcs7_bundles_can_be_mixed(h):
    out = h.leaf.pem.encode() + pkcs7_bundle(h.inter, h.root, pem=True)
    assert parse_issued(out)[1] == [("chain #1", h.inter.pem), ("chain #2", h.root.pem)]


def test_end_entity_is_preferred_as_leaf_over_an_unrelated_ca():
    other_ca = make_cert("Unrelated CA", ca=True)
    leaf = make_cert("Self Leaf")
    out = (other_ca.pem + leaf.pem).encode()
    assert parse_issued(out)[0] == leaf.pem


def test_empty_output_is_an_error():
    with pytest.raises(HelperOutputError):
        parse_issued(b"")


def test_text_without_certificates_is_an_error():
    with pytest.raises(HelperOutputError):
        parse_issued(b"Your request has been received.\n")


def test_a_broken_pem_block_is_an_error():
    broken = b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
    with pytest.raises(HelperOutputError):
        parse_issued(broken)


# --- parse_issued: enveloped data (SCEP) ---------------------------------------------


@pytest.fixture(scope="module")
def envelope(h):
    recipient = make_cert("Requester", rsa_key=True)
    payload = pkcs7_bundle(h.leaf, h.inter, pem=False)
    blob = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(payload)
        .add_recipient(recipient.cert)
        .encrypt(Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    return recipient, blob


def test_enveloped_answer_without_a_decrypter_is_reported_as_such(envelope):
    _, blob = envelope
    with pytest.raises(EnvelopedDataError):
        parse_issued(blob)


def test_enveloped_answer_is_read_through_the_decrypter(h, envelope):
    recipient, blob = envelope

    def decrypt(der: bytes) -> bytes:
        return pkcs7.pkcs7_decrypt_der(der, recipient.cert, recipient.key, [])

    assert parse_issued(blob, decrypt) == (h.leaf.pem, [("chain #1", h.inter.pem)], [])


def test_enveloped_answer_that_fails_to_decrypt_is_an_error(envelope):
    _, blob = envelope

    def decrypt(der: bytes) -> bytes:
        raise RuntimeError("wrong key")

    with pytest.raises(HelperOutputError, match="wrong key"):
        parse_issued(blob, decrypt)


# --- parse_issued: JSON ----------------------------------------------------------------


def test_json_answer_keeps_given_nicknames(h):
    doc = {
        "certificate": h.leaf.pem,
        "chain": [{"nickname": "Issuing CA", "certificate": h.inter.pem}],
        "roots": [{"nickname": "Root CA", "certificate": h.root.pem}],
    }
    assert parse_issued(json.dumps(doc).encode()) == (
        h.leaf.pem, [("Issuing CA", h.inter.pem)], [("Root CA", h.root.pem)])


def test_json_answer_gives_default_nicknames(h):
    doc = {
        "certificate": h.leaf.pem,
        "chain": [{"certificate": h.inter.pem}],
        "roots": [{"certificate": h.root.pem}],
    }
    _, chain, roots = parse_issued(json.dumps(doc).encode())
    assert chain == [("chain #1", h.inter.pem)]
    assert roots == [("root #1", h.root.pem)]


def test_json_certificate_bundle_puts_its_extras_first_in_the_chain(h):
    doc = {
        "certificate": pkcs7_bundle(h.inter, h.leaf).decode(),
        "chain": [{"nickname": "Root", "certificate": h.root.pem}],
    }
    assert parse_issued(json.dumps(doc).encode()) == (
        h.leaf.pem, [("chain #0.1", h.inter.pem), ("Root", h.root.pem)], [])


def test_json_entry_holding_several_certificates_numbers_the_extras(h):
    doc = {
        "certificate": h.leaf.pem,
        "roots": [{"nickname": "Bundle", "certificate": h.root.pem + h.inter.pem}],
    }
    _, _, roots = parse_issued(json.dumps(doc).encode())
    assert roots == [("Bundle", h.inter.pem), ("Bundle #2", h.root.pem)]


def test_json_entries_without_a_certificate_are_skipped(h):
    doc = {"certificate": h.leaf.pem, "chain": [{"nickname": "x"}, "junk", 3]}
    assert parse_issued(json.dumps(doc).encode()) == (h.leaf.pem, [], [])


def test_json_answer_without_certificate_is_an_error(h):
    with pytest.raises(HelperOutputError):
        parse_issued(json.dumps({"roots": [{"certificate": h.root.pem}]}).encode())


# --- parse_roots -------------------------------------------------------------------------


def test_legacy_roots_three_sections_separated_by_blank_lines(h):
    text = f"Root One\n{h.root.pem}\nOther Root\n{h.inter.pem}\nIntermediate\n{h.leaf.pem}"
    assert parse_roots(text) == (
        [("Root One", h.root.pem)],
        [("Other Root", h.inter.pem)],
        [("Intermediate", h.leaf.pem)],
    )


def test_legacy_roots_entries_may_follow_each_other_directly(h):
    text = f"Local Signing Authority\n{h.root.pem}Local Signing Authority 2\n{h.inter.pem}"
    roots, other_roots, others = parse_roots(text)
    assert roots == [("Local Signing Authority", h.root.pem),
                     ("Local Signing Authority 2", h.inter.pem)]
    assert other_roots == [] and others == []


def test_legacy_roots_strip_carriage_returns(h):
    text = f"Root One\n{h.root.pem}".replace("\n", "\r\n")
    assert parse_roots(text) == ([("Root One", h.root.pem)], [], [])


def test_legacy_roots_without_final_newline(h):
    text = f"Root One\n{h.root.pem}".rstrip("\n")
    assert parse_roots(text) == ([("Root One", h.root.pem)], [], [])


def test_legacy_roots_empty_answer_means_no_certificates():
    assert parse_roots("") == ([], [], [])


def test_legacy_roots_nickname_without_pem_is_an_error():
    with pytest.raises(HelperOutputError):
        parse_roots("Root One\nnot a certificate\n")


def test_legacy_roots_unterminated_pem_is_an_error():
    with pytest.raises(HelperOutputError):
        parse_roots("Root One\n-----BEGIN CERTIFICATE-----\nMIIB\n")


def test_json_roots_use_the_three_keys(h):
    doc = {
        "roots": [{"nickname": "R", "certificate": h.root.pem}],
        "other-roots": [{"nickname": "O", "certificate": h.inter.pem}],
        "other": [{"nickname": "I", "certificate": h.leaf.pem}],
    }
    assert parse_roots(json.dumps(doc)) == (
        [("R", h.root.pem)], [("O", h.inter.pem)], [("I", h.leaf.pem)])


def test_json_roots_skip_entries_missing_nickname_or_certificate(h):
    doc = {"roots": [{"certificate": h.root.pem}, {"nickname": "N"},
                     {"nickname": "R", "certificate": h.root.pem}]}
    assert parse_roots(json.dumps(doc)) == ([("R", h.root.pem)], [], [])


# --- lists -----------------------------------------------------------------------------


def test_list_items_are_separated_by_commas_and_newlines():
    assert parse_list("caIPAserviceCert,IECUserRoles\nKDCs_PKINIT_Certs\r\n") == [
        "caIPAserviceCert", "IECUserRoles", "KDCs_PKINIT_Certs"]


def test_list_drops_empty_items_and_trims_spaces():
    assert parse_list(",a,, b ,\n\n") == ["a", "b"]


def test_empty_list_answer_is_an_empty_list():
    assert parse_list("") == []


def test_requirements_map_to_request_property_names():
    names = ["CERTMONGER_REQ_PRINCIPAL", "CERTMONGER_REQ_SUBJECT", "CERTMONGER_CA_PROFILE",
             "CERTMONGER_REQ_HOSTNAME", "CERTMONGER_REQ_EMAIL", "CERTMONGER_REQ_IP_ADDRESS",
             "CERTMONGER_CA_ISSUER"]
    assert requirement_properties(names) == [
        "template-principal", "template-subject", "template-profile", "template-hostname",
        "template-email", "template-ip-address", "template-issuer"]


def test_requirement_names_match_case_insensitively():
    assert requirement_properties(["certmonger_req_subject"]) == ["template-subject"]


def test_unknown_requirement_names_are_dropped():
    assert requirement_properties(["CERTMONGER_SCEP_CA_IDENTIFIER", "CERTMONGER_PKCSREQ"]) == []


# --- cookies and delays ----------------------------------------------------------------


def test_one_line_cookie_loses_its_line_end():
    assert sanitize_cookie("12345\n") == "12345"


def test_multi_line_cookie_keeps_each_line_newline_terminated():
    assert sanitize_cookie("a\r\nb") == "a\nb\n"


def test_multi_line_cookie_drops_blank_lines():
    assert sanitize_cookie("a\n\n\nb\n\n") == "a\nb\n"


def test_delay_line_then_cookie():
    assert parse_delay_and_cookie("3600\nrequest-7\n") == (3600, "request-7")


def test_delay_with_crlf():
    assert parse_delay_and_cookie("30\r\ncookie") == (30, "cookie")


def test_delay_without_cookie_gives_an_empty_cookie():
    assert parse_delay_and_cookie("30\n") == (30, "")


def test_delay_must_be_followed_by_a_line_end():
    with pytest.raises(HelperOutputError):
        parse_delay_and_cookie("30")


def test_delay_alone_is_accepted_when_no_line_end_is_required():
    assert parse_delay_and_cookie("30", require_newline=False) == (30, "")


@pytest.mark.parametrize("text", ["soon\ncookie", "30s\ncookie", "\ncookie", "-5\ncookie"])
def test_delay_that_is_not_a_number_is_an_error(text):
    with pytest.raises(HelperOutputError):
        parse_delay_and_cookie(text)


def test_first_line_stops_at_cr_or_lf():
    assert first_line("Server said no\r\ndetails") == "Server said no"
