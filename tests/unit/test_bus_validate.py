"""add_request and modify checks: certmonger's errors, messages, order and defaults."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from pycertmonger.bus.validate import (
    FileSystem,
    changes_from_modify,
    default_nickname,
    request_from_template,
    valid_ms_template_spec,
)
from pycertmonger.config import Config
from pycertmonger.errors import (
    BadArgError,
    CertmongerError,
    DuplicateError,
    MissingArgError,
    RequestBadArgError,
)
from pycertmonger.model import CA, Request, State

CA_PATH = "/org/fedorahosted/certmonger/cas/CA1"


class Lookup:
    """Other requests and the CAs, as the checks see them."""

    def __init__(self, requests: list[Request] | None = None) -> None:
        self._requests = requests or []
        self.cas = {CA_PATH: CA(nickname="SelfSign")}

    def requests(self) -> list[Request]:
        return self._requests

    def ca_at(self, path: str) -> CA | None:
        return self.cas.get(path)


@pytest.fixture
def loc1(tmp_path: Path) -> Request:
    """An existing FILE request called loc1."""
    return Request(nickname="loc1", cert_storage_type="FILE",
                   cert_storage_location=str(tmp_path / "loc1.crt"),
                   key_storage_type="FILE", key_storage_location=str(tmp_path / "loc1.key"))


@pytest.fixture
def nss1(tmp_path: Path) -> Request:
    """An existing NSSDB request called nss1."""
    return Request(nickname="nss1", cert_storage_type="NSSDB",
                   cert_storage_location=f"sql:{tmp_path}", cert_nickname="srv",
                   key_storage_type="NSSDB", key_storage_location=f"sql:{tmp_path}",
                   key_nickname="srv")


def add(values: dict[str, Any], *, existing: list[Request] | None = None,
        config: Config | None = None, fs: FileSystem | None = None, **kw: Any) -> Request:
    return request_from_template(values, caller_uid=0, lookup=Lookup(existing),
                                 config=config or Config(), fs=fs or FileSystem(), **kw)


def file_template(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {"CERT_STORAGE": "FILE", "CERT_LOCATION": str(tmp_path / "new.crt"), **more}


def error(exc: pytest.ExceptionInfo[CertmongerError]) -> tuple[str, str, list[Any]]:
    """The D-Bus error name and body an error becomes."""
    signature, body = exc.value.dbus_body()
    return exc.value.dbus_name, signature, body


BAD_ARG = "org.fedorahosted.certmonger.bad_arg"
MISSING_ARG = "org.fedorahosted.certmonger.missing_arg"
DUPLICATE = "org.fedorahosted.certmonger.duplicate"
REQUEST_BAD_ARG = "org.fedorahosted.certmonger.request.bad_arg"


# -- the error rows of the reference table ----------------------------------------------------


def test_missing_cert_storage_is_a_missing_arg() -> None:
    with pytest.raises(MissingArgError) as exc:
        add({})
    assert error(exc) == (MISSING_ARG, "ss",
                          ["Certificate storage type not specified.", "CERT_STORAGE"])


def test_unknown_cert_storage_is_a_bad_arg() -> None:
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "BOGUS"})
    assert error(exc) == (BAD_ARG, "ss",
                          ['Certificate storage type "BOGUS" not supported.', "CERT_STORAGE"])


def test_file_storage_needs_a_location() -> None:
    with pytest.raises(MissingArgError) as exc:
        add({"CERT_STORAGE": "FILE"})
    assert error(exc)[2] == ["Certificate storage location not specified.", "CERT_LOCATION"]


def test_a_relative_certificate_location_is_refused() -> None:
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "FILE", "CERT_LOCATION": "rel.crt"})
    assert error(exc)[2] == ['The location "rel.crt" must be an absolute path.',
                             "CERT_LOCATION"]


def test_a_location_in_a_missing_directory_is_refused() -> None:
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "FILE", "CERT_LOCATION": "/nonexistent/x.crt"})
    assert error(exc)[2] == [('The parent of location "/nonexistent/x.crt" must be a valid '
                             'directory.'), "CERT_LOCATION"]


def test_an_inaccessible_certificate_directory_is_refused(tmp_path: Path) -> None:
    denied = FileSystem(access=lambda path, mode: False)
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path), fs=denied)
    assert error(exc)[2] == [(f'The parent of location "{tmp_path}/new.crt" could not be '
                             'accessed due to insufficient permissions.'), "CERT_LOCATION"]


def test_an_inaccessible_certificate_database_is_refused(tmp_path: Path) -> None:
    denied = FileSystem(access=lambda path, mode: False)
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "NSSDB", "CERT_LOCATION": str(tmp_path), "CERT_NICKNAME": "n"},
            fs=denied)
    assert error(exc)[2] == [(f'The location "{tmp_path}" could not be accessed due to '
                             'insufficient permissions.'), "CERT_LOCATION"]


def test_an_inaccessible_key_file_parent_names_the_key_location(tmp_path: Path) -> None:
    keydir = tmp_path / "keys"
    keydir.mkdir()
    key = str(keydir / "k.key")
    fs = FileSystem(access=lambda path, mode: path != str(keydir))
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, KEY_STORAGE="FILE", KEY_LOCATION=key), fs=fs)
    assert error(exc)[2] == [(f'The parent of location "{key}" could not be accessed due to '
                             'insufficient permissions.'), "KEY_LOCATION"]


def test_a_directory_is_not_a_certificate_file(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "FILE", "CERT_LOCATION": str(tmp_path)})
    assert error(exc)[2] == [f'The location "{tmp_path}" must be a file.', "CERT_LOCATION"]


def test_nssdb_storage_needs_a_certificate_nickname(tmp_path: Path) -> None:
    with pytest.raises(MissingArgError) as exc:
        add({"CERT_STORAGE": "NSSDB", "CERT_LOCATION": str(tmp_path)})
    assert error(exc)[2] == ["Certificate nickname not specified.", "CERT_NICKNAME"]


def test_nssdb_location_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "NSSDB", "CERT_LOCATION": "/nonexistent", "CERT_NICKNAME": "n"})
    assert error(exc)[2] == ['The location "/nonexistent" must be a directory.',
                             "CERT_LOCATION"]


def test_file_key_storage_needs_a_location(tmp_path: Path) -> None:
    with pytest.raises(MissingArgError) as exc:
        add(file_template(tmp_path, KEY_STORAGE="FILE"))
    assert error(exc)[2] == ["Key storage location not specified.", "KEY_LOCATION"]


def test_nssdb_key_storage_needs_a_key_nickname(tmp_path: Path) -> None:
    with pytest.raises(MissingArgError) as exc:
        add(file_template(tmp_path, KEY_STORAGE="NSSDB", KEY_LOCATION=str(tmp_path)))
    assert error(exc)[2] == ["Key nickname not specified.", "KEY_NICKNAME"]


def test_unknown_key_storage_is_a_bad_arg(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, KEY_STORAGE="X"))
    assert error(exc)[2] == ['Key storage type "X" not supported.', "KEY_STORAGE"]


def test_an_unknown_ca_path_is_a_bad_arg(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, CA="/org/fedorahosted/certmonger/cas/CA99"))
    assert error(exc) == (BAD_ARG, "ss", ["No such CA.", "CA"])


def test_an_unsupported_key_type_is_a_bad_arg(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, KEY_TYPE="DSA"))
    assert error(exc)[2] == ['No support for key type "DSA".', "KEY_TYPE"]


def test_a_relative_pin_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, KEY_PIN_FILE="relpin"))
    assert error(exc)[2] == ['The location "relpin" must be an absolute path.', "KEY_PIN_FILE"]


def test_a_bad_ms_template_spec_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, **{"template-ms-certificate-template": "bad"}))
    assert error(exc)[2] == ["Invalid V2 certificate template specifier: bad",
                             "template-ms-certificate-template"]


def test_a_relative_challenge_password_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, **{"template-challenge-password-file": "rel"}))
    assert error(exc)[2] == ['The location "rel" must be an absolute path.',
                             "template-challenge-password-file"]


def test_nicknames_are_unique_whatever_their_case(tmp_path: Path, loc1: Request) -> None:
    with pytest.raises(DuplicateError) as exc:
        add(file_template(tmp_path, NICKNAME="LOC1"), existing=[loc1])
    assert error(exc) == (DUPLICATE, "sas",
                          ['There is already a request with the nickname "loc1".',
                           ["NICKNAME"]])


def test_a_certificate_file_tracked_already_is_a_duplicate(loc1: Request) -> None:
    with pytest.raises(DuplicateError) as exc:
        add({"CERT_STORAGE": "FILE", "CERT_LOCATION": loc1.cert_storage_location},
            existing=[loc1])
    assert error(exc)[2] == [('Certificate at same location is already used by request with '
                             'nickname "loc1".'), ["CERT_LOCATION"]]


def test_a_database_certificate_tracked_already_names_location_and_nickname(
        tmp_path: Path, nss1: Request) -> None:
    with pytest.raises(DuplicateError) as exc:
        add({"CERT_STORAGE": "NSSDB", "CERT_LOCATION": f"sql:{tmp_path}/",
             "CERT_NICKNAME": "srv"}, existing=[nss1])
    assert error(exc)[2][1] == ["CERT_LOCATION", "CERT_NICKNAME"]


def test_another_nickname_in_the_same_database_is_no_duplicate(tmp_path: Path,
                                                                nss1: Request) -> None:
    r = add({"CERT_STORAGE": "NSSDB", "CERT_LOCATION": f"sql:{tmp_path}",
             "CERT_NICKNAME": "other"}, existing=[nss1])
    assert r.cert_nickname == "other"


def test_a_key_file_used_already_is_a_duplicate(tmp_path: Path, loc1: Request) -> None:
    with pytest.raises(DuplicateError) as exc:
        add(file_template(tmp_path, KEY_STORAGE="FILE",
                          KEY_LOCATION=loc1.key_storage_location), existing=[loc1])
    assert error(exc)[2] == [('Key at same location is already used by request with nickname '
                             '"loc1".'), ["KEY_LOCATION"]]


def test_a_database_key_used_already_names_location_and_nickname(tmp_path: Path,
                                                                  nss1: Request) -> None:
    with pytest.raises(DuplicateError) as exc:
        add(file_template(tmp_path, KEY_STORAGE="NSSDB", KEY_LOCATION=f"sql:{tmp_path}",
                          KEY_NICKNAME="srv"), existing=[nss1])
    assert error(exc)[2][1] == ["KEY_LOCATION", "KEY_NICKNAME"]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("root-cert-files", ["rel"], 'The location "rel" must be an absolute path.'),
    ("other-cert-files", ["/nonexistent/x"],
     'The parent of location "/nonexistent/x" must be a valid directory.'),
    ("root-cert-nssdbs", ["sql:rel"], 'The location "sql:rel" must be an absolute path.'),
    ("root-other-cert-nssdbs", ["/nonexistent"],
     'The location "/nonexistent" must be a directory.'),
])
def test_ca_certificate_locations_are_checked(tmp_path: Path, key: str, value: list[str],
                                              message: str) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, **{key: value}))
    assert error(exc)[2] == [message, key]


# -- the order of the checks ------------------------------------------------------------------


def test_the_pin_file_is_checked_before_the_certificate_location() -> None:
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "FILE", "KEY_PIN_FILE": "rel"})
    assert error(exc)[2][1] == "KEY_PIN_FILE"


def test_the_storage_type_is_checked_before_the_pin_file() -> None:
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "bogus", "KEY_PIN_FILE": "rel"})
    assert error(exc)[2][1] == "CERT_STORAGE"


def test_the_nickname_is_checked_before_the_certificate_location(loc1: Request) -> None:
    with pytest.raises(DuplicateError) as exc:
        add({"CERT_STORAGE": "FILE", "CERT_LOCATION": loc1.cert_storage_location,
             "NICKNAME": "Loc1"}, existing=[loc1])
    assert error(exc)[2][1] == ["NICKNAME"]


def test_key_storage_is_checked_before_the_ca(tmp_path: Path) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, KEY_STORAGE="bogus", CA="/x"))
    assert error(exc)[2][1] == "KEY_STORAGE"


@pytest.mark.parametrize(("first", "second", "reported"), [
    ({"root-cert-files": ["rel"]}, {"KEY_TYPE": "DSA"}, "root-cert-files"),
    ({"KEY_TYPE": "DSA"}, {"CA": "/x"}, "KEY_TYPE"),
    ({"CA": "/x"}, {"template-ms-certificate-template": "bad"}, "CA"),
    ({"template-ms-certificate-template": "bad"},
     {"template-challenge-password-file": "rel"}, "template-ms-certificate-template"),
])
def test_later_checks_wait_for_earlier_ones(tmp_path: Path, first: dict[str, Any],
                                            second: dict[str, Any], reported: str) -> None:
    with pytest.raises(BadArgError) as exc:
        add(file_template(tmp_path, **second, **first))
    assert error(exc)[2][1] == reported


# -- what gets stored -------------------------------------------------------------------------


def test_a_minimal_template_gives_a_new_tracking_request(tmp_path: Path) -> None:
    r = add(file_template(tmp_path), now=time.mktime((2026, 11, 26, 21, 52, 30, 0, 0, -1)))
    assert r.nickname == "20261126215230"
    assert r.state is State.NEWLY_ADDED
    assert (r.cert_storage_type, r.cert_storage_location) == ("FILE", str(tmp_path / "new.crt"))
    assert r.key_storage_type == "NONE"
    assert (r.monitor, r.autorenew) == (True, True)
    assert (r.key_gen_type, r.key_gen_size) == ("RSA", 2048)
    assert (r.key_next_gen_type, r.key_next_gen_size) == ("RSA", 2048)
    assert r.ca_name == ""


def test_generated_nicknames_skip_taken_seconds() -> None:
    now = time.mktime((2026, 11, 26, 21, 52, 30, 0, 0, -1))
    assert default_nickname(["20261126215230", "20261126215231"], now) == "20261126215232"


def test_the_ca_is_given_by_object_path_also_as_a_string(tmp_path: Path) -> None:
    assert add(file_template(tmp_path, CA=CA_PATH)).ca_name == "SelfSign"


def test_without_a_ca_the_configured_default_ca_is_used(tmp_path: Path) -> None:
    assert add(file_template(tmp_path), config=Config(default_ca="local")).ca_name == "local"


def test_key_type_and_size_default_from_the_configuration(tmp_path: Path) -> None:
    r = add(file_template(tmp_path), config=Config(key_type="EC", rsa_key_size=3072))
    assert (r.key_gen_type, r.key_gen_size) == ("EC", 256)
    r = add(file_template(tmp_path), config=Config(rsa_key_size=3072))
    assert (r.key_gen_type, r.key_gen_size) == ("RSA", 3072)


@pytest.mark.parametrize(("key_type", "size", "expected"), [
    ("RSA", 512, ("RSA", 1024)),
    ("ecdsa", 100, ("EC", 256)),
    ("Ec", 384, ("EC", 384)),
    ("rsa", 4096, ("RSA", 4096)),
])
def test_key_sizes_are_raised_to_the_minimum(tmp_path: Path, key_type: str, size: int,
                                             expected: tuple[str, int]) -> None:
    r = add(file_template(tmp_path, KEY_TYPE=key_type, KEY_SIZE=size))
    assert (r.key_gen_type, r.key_gen_size) == expected


def test_a_key_size_of_the_wrong_type_counts_as_absent(tmp_path: Path) -> None:
    assert add(file_template(tmp_path, KEY_SIZE="abc")).key_gen_size == 2048


def test_nss_locations_keep_their_prefix_and_get_the_default_token(tmp_path: Path) -> None:
    r = add({"CERT_STORAGE": "nssdb", "CERT_LOCATION": f"sql:{tmp_path}/",
             "CERT_NICKNAME": "srv", "KEY_STORAGE": "NSSDB",
             "KEY_LOCATION": f"sql:{tmp_path}", "KEY_NICKNAME": "srv"})
    assert (r.cert_storage_type, r.cert_storage_location) == ("NSSDB", f"sql:{tmp_path}")
    assert r.cert_token == r.key_token == "NSS Certificate DB"
    assert r.key_storage_location == f"sql:{tmp_path}"


def test_a_pin_file_replaces_a_pin(tmp_path: Path) -> None:
    r = add(file_template(tmp_path, KEY_PIN="secret", KEY_PIN_FILE="/etc/pin"))
    assert (r.key_pin, r.key_pin_file) == ("", "/etc/pin")
    assert add(file_template(tmp_path, KEY_PIN="")).key_pin == ""


def test_save_commands_run_as_the_caller(tmp_path: Path) -> None:
    values = file_template(tmp_path, **{"cert-presave-command": "/bin/true pre",
                                        "cert-postsave-command": "/bin/true post"})
    r = request_from_template(values, caller_uid=1234, lookup=Lookup(), config=Config())
    assert (r.pre_certsave_command, r.pre_certsave_uid) == ("/bin/true pre", "1234")
    assert (r.post_certsave_command, r.post_certsave_uid) == ("/bin/true post", "1234")


def test_template_keys_are_stored(tmp_path: Path) -> None:
    r = add(file_template(tmp_path, SUBJECT="CN=x", KU="101", EKU=["1.3.6.1.5.5.7.3.1"],
                          PRINCIPAL=["host/x@R"], DNS=["x"], EMAIL=["a@x"], **{
                              "template-ip-address": ["192.0.2.1"], "template-is-ca": True,
                              "template-ca-path-length": 3, "template-ocsp": ["http://o"],
                              "template-crldp": ["http://c"], "template-ns-comment": "c",
                              "template-issuer": "iss", "template-challenge-password": "pw",
                              "key-owner": "nobody:nogroup", "cert-perms": 0o644,
                              "nss-user": "u", "TRACK": False, "RENEW": False}))
    assert (r.template_subject, r.template_ku, r.template_eku) == ("CN=x", "101",
                                                                  ["1.3.6.1.5.5.7.3.1"])
    assert (r.template_principal, r.template_hostname, r.template_email) == (
        ["host/x@R"], ["x"], ["a@x"])
    assert r.template_ipaddress == ["192.0.2.1"]
    assert (r.template_is_ca, r.template_ca_path_length) == (True, 3)
    assert (r.template_ocsp, r.template_crldp) == (["http://o"], ["http://c"])
    assert (r.template_ns_comment, r.template_issuer) == ("c", "iss")
    assert r.template_challenge_password == "pw"
    assert (r.key_owner, r.cert_perms, r.nss_user) == ("nobody:nogroup", 0o644, "u")
    assert (r.monitor, r.autorenew) == (False, False)


def test_the_legacy_key_wins_over_the_property_name(tmp_path: Path) -> None:
    r = add(file_template(tmp_path, EKU=["1.3.6.1.5.5.7.3.1"], **{"template-eku": ["1.2.3"]}))
    assert r.template_eku == ["1.3.6.1.5.5.7.3.1"]


def test_key_names_match_whatever_their_case(tmp_path: Path) -> None:
    r = add({"cert_storage": "FILE", "cert_location": str(tmp_path / "a.crt"),
             "Nickname": "n1", "subject": "CN=n1"})
    assert (r.nickname, r.template_subject) == ("n1", "CN=n1")


def test_property_style_names_are_understood(tmp_path: Path) -> None:
    r = add({"cert-storage": "FILE", "cert-file": str(tmp_path / "a.crt"),
             "key-storage": "FILE", "key-file": str(tmp_path / "a.key"), "nickname": "n2",
             "key-type": "EC"})
    assert (r.key_storage_location, r.nickname, r.key_gen_type) == (
        str(tmp_path / "a.key"), "n2", "EC")


def test_ca_profile_sets_the_template_profile(tmp_path: Path) -> None:
    assert add(file_template(tmp_path, **{"ca-profile": "p"})).template_profile == "p"


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    r = add(file_template(tmp_path, **{"template-ns-certtype": "x", "bogus": 1}))
    assert r.template_ns_certtype == ""


def test_an_empty_ms_template_spec_is_accepted(tmp_path: Path) -> None:
    spec = {"template-ms-certificate-template": ""}
    assert add(file_template(tmp_path, **spec)).template_certificate_template == ""


@pytest.mark.parametrize(("spec", "valid"), [
    ("1.2.3:1:2", True), ("1:1", True), ("1.2.3:-1", True), ("1.2.3:1:", True),
    ("1.2.3: 1", True), ("1.2.3:+1", True), ("1.2.3:01:02", True), ("1..2:1", True),
    ("bad", False), ("1.2.3", False), ("x.y:1", False), ("1.2.3:a", False),
    ("1.2.3:4:5:6", False), ("1.2.3:0x1", False), ("3.2:1", False), (" 1.2.3:1", False),
])
def test_ms_template_specs_are_read_like_certmonger(spec: str, valid: bool) -> None:
    assert valid_ms_template_spec(spec) is valid


# -- modify -----------------------------------------------------------------------------------


def modify(values: dict[str, Any], request: Request, *, others: list[Request] | None = None,
           **kw: Any) -> dict[str, Any]:
    return changes_from_modify(values, request, caller_uid=0,
                               lookup=Lookup([request, *(others or [])]), config=Config(), **kw)


def test_modify_refuses_an_unknown_key() -> None:
    with pytest.raises(RequestBadArgError) as exc:
        modify({"KEY_STORAGE": "FILE"}, Request(nickname="a"))
    assert error(exc) == (REQUEST_BAD_ARG, "ss",
                          ["Unrecognized parameter or wrong value type.", "KEY_STORAGE"])


def test_modify_refuses_a_value_of_the_wrong_type() -> None:
    with pytest.raises(RequestBadArgError) as exc:
        modify({"template-is-ca": "x"}, Request(nickname="a"))
    assert error(exc)[2][1] == "template-is-ca"


def test_modify_applies_nothing_when_any_key_is_bad() -> None:
    request = Request(nickname="a")
    with pytest.raises(RequestBadArgError):
        modify({"SUBJECT": "CN=new", "status": "MONITORING"}, request)
    assert request.template_subject == ""


def test_modify_keeps_the_requests_own_nickname() -> None:
    assert modify({"NICKNAME": "A"}, Request(nickname="a")) == {"nickname": "A"}


def test_modify_refuses_another_requests_nickname_whatever_its_case() -> None:
    with pytest.raises(DuplicateError) as exc:
        modify({"nickname": "LOC1"}, Request(nickname="a"), others=[Request(nickname="loc1")])
    assert error(exc)[2] == ['There is already a request with the nickname "loc1".',
                             ["NICKNAME"]]


def test_modify_refuses_an_unknown_ca() -> None:
    with pytest.raises(BadArgError) as exc:
        modify({"CA": "/org/fedorahosted/certmonger/cas/CA99"}, Request(nickname="a"))
    assert error(exc)[2] == [('Certificate authority "/org/fedorahosted/certmonger/cas/CA99" '
                             'not known.'), "CA"]


def test_modify_sets_the_ca_by_path() -> None:
    assert modify({"ca": CA_PATH}, Request(nickname="a")) == {"ca_name": "SelfSign"}


def test_modify_key_names_match_whatever_their_case() -> None:
    assert modify({"renew": False, "Track": False}, Request(nickname="a")) == {
        "autorenew": False, "monitor": False}


def test_modify_stores_other_cert_files_in_their_own_slot() -> None:
    assert modify({"other-cert-files": ["/x"]}, Request(nickname="a")) == {
        "other_cert_files": ["/x"]}


def test_a_pin_and_a_pin_file_replace_each_other() -> None:
    assert modify({"KEY_PIN": "p"}, Request(nickname="a")) == {"key_pin": "p",
                                                               "key_pin_file": ""}
    assert modify({"key-pin-file": "/pin"}, Request(nickname="a")) == {"key_pin_file": "/pin",
                                                                       "key_pin": ""}


def test_modify_refuses_a_relative_pin_file() -> None:
    with pytest.raises(BadArgError) as exc:
        modify({"KEY_PIN_FILE": "rel"}, Request(nickname="a"))
    assert error(exc)[2] == ['The location "rel" must be an absolute path.', "KEY_PIN_FILE"]


def test_modify_checks_the_ms_template_spec() -> None:
    with pytest.raises(BadArgError):
        modify({"template-ms-certificate-template": "bad"}, Request(nickname="a"))


def test_modify_records_who_set_a_save_command() -> None:
    changes = changes_from_modify({"cert-postsave-command": "/bin/true"}, Request(nickname="a"),
                                  caller_uid=42, lookup=Lookup(), config=Config())
    assert changes == {"post_certsave_command": "/bin/true", "post_certsave_uid": "42"}
    assert modify({"cert-postsave-command": ""}, Request(nickname="a")) == {
        "post_certsave_command": "", "post_certsave_uid": ""}


def test_modify_sets_the_next_key_type_and_size() -> None:
    request = Request(nickname="a", key_gen_type="RSA", key_gen_size=2048)
    assert modify({"KEY_TYPE": "EC"}, request) == {
        "key_gen_type": "EC", "key_next_gen_type": "EC", "key_gen_size": 256,
        "key_next_gen_size": 256}
    assert modify({"key-size": 100}, request)["key_gen_size"] == 1024
    assert modify({"KEY_SIZE": 3072}, request)["key_next_gen_size"] == 3072


def test_some_writable_properties_are_for_set_only() -> None:
    with pytest.raises(RequestBadArgError):
        modify({"template-freshest-crl": ["http://f"]}, Request(nickname="a"))
    assert modify({"template-freshest-crl": ["http://f"]}, Request(nickname="a"),
                  allow_set_only=True) == {"template_freshest_crl": ["http://f"]}


def test_a_location_check_names_the_key_being_checked(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(BadArgError) as exc:
        add({"CERT_STORAGE": "FILE", "CERT_LOCATION": str(tmp_path / "fifo")})
    assert error(exc)[2] == [f'The location "{tmp_path}/fifo" must be a file.', "CERT_LOCATION"]
