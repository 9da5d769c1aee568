"""`list` and `list-cas` blocks are printed exactly as certmonger's client prints them."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from pycertmonger.getcert.bus import CertInfo, StorageInfo
from pycertmonger.getcert.output import (
    CAView,
    RequestView,
    ca_json,
    format_ca,
    format_list_header,
    format_request,
    format_time,
    invalid_state_line,
    request_json,
    thumbprint,
)

ISSUED = 1795729652  # 2026-11-26 21:47:32 UTC
EXPIRES = 1827265652


@pytest.fixture
def utc_zone():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def issued_view() -> RequestView:
    return RequestView(
        nickname="ss1", status="MONITORING", stuck=False,
        key=StorageInfo("FILE", "/etc/pki/example/ss1.key"),
        cert=StorageInfo("FILE", "/etc/pki/example/ss1.crt"),
        ca="SelfSign",
        info=CertInfo(issuer="CN=ss1.example.test", serial="01",
                      subject="CN=ss1.example.test", not_after=EXPIRES,
                      email=("admin@example.test",), dns=("ss1.example.test",),
                      principal=("host/ss1.example.test@EXAMPLE.TEST",), key_usage=5,
                      eku=("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"), not_before=ISSUED),
        ca_profile="myprofile", template_profile="myprofile")


def test_issued_request_block_matches_the_stock_listing(utc_zone):
    assert format_request(issued_view()) == (
        "Request ID 'ss1':\n"
        "\tstatus: MONITORING\n"
        "\tstuck: no\n"
        "\tkey pair storage: type=FILE,location='/etc/pki/example/ss1.key'\n"
        "\tcertificate: type=FILE,location='/etc/pki/example/ss1.crt'\n"
        "\tCA: SelfSign\n"
        "\tissuer: CN=ss1.example.test\n"
        "\tsubject: CN=ss1.example.test\n"
        "\tissued: 2026-11-26 21:47:32 UTC\n"
        "\texpires: 2027-11-26 21:47:32 UTC\n"
        "\temail: admin@example.test\n"
        "\tdns: ss1.example.test\n"
        "\tprincipal name: host/ss1.example.test@EXAMPLE.TEST\n"
        "\tkey usage: digitalSignature,keyEncipherment\n"
        "\teku: id-kp-serverAuth,id-kp-clientAuth\n"
        "\tcertificate template/profile: myprofile\n"
        "\tprofile: myprofile\n"
        "\tpre-save command: \n"
        "\tpost-save command: \n"
        "\ttrack: yes\n"
        "\tauto-renew: yes\n"
    )


def test_pending_request_shows_ca_error_and_unknown_dates():
    view = RequestView(
        nickname="un1", status="CA_UNREACHABLE", stuck=False,
        ca_error="Server is down for testing",
        key=StorageInfo("FILE", "/k"), cert=StorageInfo("FILE", "/c"), ca="testca",
        template_profile="prof", template_issuer="iss")
    text = format_request(view)
    assert "\tstatus: CA_UNREACHABLE\n\tca-error: Server is down for testing\n\tstuck: no\n" \
        in text
    assert "\tissuer: \n\tsubject: \n\tissued: unknown\n\texpires: unknown\n" in text
    assert "\tprofile: prof\n\tissuer template: iss\n" in text


def test_request_without_ca_has_no_ca_line():
    view = RequestView(nickname="n", status="NEED_GUIDANCE", stuck=True,
                       cert=StorageInfo("FILE", "/c"))
    text = format_request(view)
    assert "\tCA:" not in text
    assert "\tkey pair storage: type=NONE\n" in text
    assert "\tstuck: yes\n" in text


def test_nssdb_storage_lists_nickname_and_token():
    nss = StorageInfo("NSSDB", "sql:/db", "srv", "NSS Certificate DB")
    text = format_request(RequestView(nickname="n", status="MONITORING", stuck=False,
                                      key=nss, cert=nss))
    assert ("\tkey pair storage: type=NSSDB,location='sql:/db',nickname='srv',"
            "token='NSS Certificate DB'\n") in text
    assert "\tcertificate: type=NSSDB,location='sql:/db',nickname='srv'," in text


def test_pin_and_pin_file_are_flagged_on_the_key_line():
    view = RequestView(nickname="n", status="MONITORING", stuck=False,
                       key=StorageInfo("FILE", "/k"), key_pin="secret", key_pin_file="/p")
    line = format_request(view).splitlines()[3]
    assert line == "\tkey pair storage: type=FILE,location='/k',pin set,pinfile='/p'"


def test_template_ip_addresses_and_ca_files_are_not_printed():
    view = RequestView(nickname="n", status="MONITORING", stuck=False,
                       template_ip_address=["192.0.2.1"], root_cert_files=["/ca.pem"])
    text = format_request(view)
    assert "192.0.2.1" not in text
    assert "/ca.pem" not in text


def test_track_and_auto_renew_are_yes_or_no():
    view = RequestView(nickname="n", status="MONITORING", stuck=False, monitoring=False,
                       autorenew=False)
    assert format_request(view).endswith("\ttrack: no\n\tauto-renew: no\n")


def test_utc_times_say_utc():
    assert format_time(ISSUED, utc=True) == "2026-11-26 21:47:32 UTC"


def test_local_times_carry_the_zone_abbreviation():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        assert format_time(ISSUED) == "2026-11-26 16:47:32 EST"
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_time_zero_is_unknown():
    assert format_time(0) == "unknown"


def test_header_counts_requests():
    assert format_list_header(3) == "Number of certificates and requests being tracked: 3.\n"


def test_unknown_state_is_reported_instead_of_listed():
    assert invalid_state_line("BOGUS") == "'BOGUS' is in an invalid state!\n"


def test_thumbprint_groups_upper_case_hex_by_four_bytes():
    pem = "-----BEGIN X-----\nQUJD\n-----END X-----\n"
    want = hashlib.sha1(b"ABC").hexdigest().upper()
    assert thumbprint(pem, "sha1") == " ".join(want[i:i + 8] for i in range(0, 40, 8))


def test_scep_request_shows_csr_thumbprints_before_the_ca():
    view = RequestView(nickname="n", status="MONITORING", stuck=False, ca="scep",
                       csr="-----BEGIN CERTIFICATE REQUEST-----\nQUJD\n"
                           "-----END CERTIFICATE REQUEST-----\n")
    lines = format_request(view).splitlines()
    assert lines[5].startswith("\tsigning request thumbprint (MD5): ")
    assert lines[6].startswith("\tsigning request thumbprint (SHA1): ")
    assert lines[7] == "\tCA: scep"


def test_request_json_uses_property_names_and_hides_the_pin():
    view = issued_view()
    view.key_pin = "secret"
    data = request_json(view)
    assert data["nickname"] == "ss1"
    assert data["key-file"] == "/etc/pki/example/ss1.key"
    assert data["key-pin-set"] is True
    assert "secret" not in repr(data)
    assert data["not-valid-after"] == EXPIRES
    assert data["ku"] == ["digitalSignature", "keyEncipherment"]
    assert data["eku"] == ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]
    assert data["ca"] == "SelfSign"


def test_request_json_reports_unknown_dates_as_null():
    data = request_json(RequestView(nickname="n", status="NEED_CA", stuck=True))
    assert data["not-valid-before"] is None
    assert data["not-valid-after"] is None


def test_builtin_ca_blocks_match_the_stock_listing():
    selfsign = CAView(nickname="SelfSign", is_default=False, type="INTERNAL:SELF",
                      serial="02")
    local = CAView(nickname="local", is_default=False, type="EXTERNAL",
                   location="/usr/lib/certmonger/local-submit",
                   aka="Local Signing Authority (certmonger 0.79.17)",
                   config_path="/var/lib/certmonger/cas/20261126191704-3")
    assert format_ca(selfsign) == (
        "CA 'SelfSign':\n\tis-default: no\n\tca-type: INTERNAL:SELF\n"
        "\tnext-serial-number: 02\n")
    assert format_ca(local, verbose=True) == (
        "CA 'local':\n"
        "\tself-identifies as: Local Signing Authority (certmonger 0.79.17)\n"
        "\tis-default: no\n"
        "\tca-type: EXTERNAL\n"
        "\thelper-location: /usr/lib/certmonger/local-submit\n"
        "\tconfig-path: /var/lib/certmonger/cas/20261126191704-3\n")


def test_ca_aka_and_config_path_need_verbose():
    view = CAView(nickname="x", is_default=True, type="EXTERNAL", location="/h",
                  aka="X", config_path="/c")
    assert format_ca(view) == "CA 'x':\n\tis-default: yes\n\tca-type: EXTERNAL\n" \
        "\thelper-location: /h\n"


def test_ca_issuer_names_and_default_profile_are_listed():
    view = CAView(nickname="x", is_default=False, type="EXTERNAL", location="/h",
                  issuer_names=["CN=a", "CN=b"], default_profile="defprof")
    assert format_ca(view).endswith(
        "\tknown-issuer-names:\n\t\tCN=a\n\t\tCN=b\n"
        "\tdefault profile/template/certtype: defprof\n")


def test_external_ca_without_serial_prints_like_c_null():
    view = CAView(nickname="x", is_default=False, type="INTERNAL:OTHER")
    assert "\tnext-serial-number: (null)\n" in format_ca(view)


def test_scep_ca_shows_identifier_and_certificate_thumbprints():
    view = CAView(nickname="s", is_default=False, type="EXTERNAL", location="/h", scep=True,
                  scep_ca_identifier="id1",
                  scep_cert="-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n")
    lines = format_ca(view).splitlines()
    assert lines[4] == "\tSCEP CA identifier: id1"
    assert lines[5].startswith("\tSCEP CA certificate thumbprint (MD5): ")
    assert lines[6].startswith("\tSCEP CA certificate thumbprint (SHA1): ")


def test_ca_json_names_the_helper_external_helper():
    data = ca_json(CAView(nickname="x", is_default=False, type="EXTERNAL", location="/h"))
    assert data["external-helper"] == "/h"
    assert data["next-serial-number"] is None
