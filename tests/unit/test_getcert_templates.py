"""The add_request/modify dictionaries match what the stock getcert sends, key by key."""

from __future__ import annotations

from pycertmonger.getcert.settings import Settings
from pycertmonger.getcert.templates import (
    Host,
    apply_default_template,
    request_entries,
    resubmit_entries,
    scep_command,
    shell_escape,
    tracking_add_entries,
    tracking_modify_entries,
)

CA4 = "/org/fedorahosted/certmonger/cas/CA4"


def flat(entries):
    return [(k, v.signature, v.value) for k, v in entries]


def everything() -> Settings:
    return Settings(
        keyfile="/w/b.key", certfile="/w/b.crt", pin="pin", pinfile="/w/pf", cpass="cpw",
        cpassfile="/w/cpwf", is_ca=True, path_length=3, renew_count=0, renew_start=1,
        renew_stop=1, key_owner="root", key_perms=0o640, cert_owner="root:root",
        cert_perms=0o644, nss_user="nobody", key_type="EC", key_size=256, new_id="bee",
        subject="CN=bee", principal=["host/x@R"], dns=["bee.example"], email=["a@b"],
        ip=["192.0.2.1"], ku=0b101, eku=["1.2.3.4"], profile="prof", ms_template="1.2.3:1",
        issuer="iss", precommand="pre", postcommand="post", anchor_files=["/w/ca.pem"],
        anchor_dbs=["/w"])


def test_request_sends_every_key_in_stock_order():
    assert [k for k, _, _ in flat(request_entries(everything(), CA4))] == [
        "KEY_STORAGE", "KEY_LOCATION", "CERT_STORAGE", "CERT_LOCATION", "KEY_PIN",
        "KEY_PIN_FILE", "template-challenge-password", "template-challenge-password-file",
        "template-is-ca", "template-ca-path-length", "TRACK", "RENEW", "key-owner",
        "key-perms", "cert-owner", "cert-perms", "nss-user", "KEY_TYPE", "KEY_SIZE",
        "NICKNAME", "CA", "template-subject", "template-principal", "template-hostname",
        "template-email", "template-ip-address", "template-ku", "template-eku",
        "template-profile", "template-ms-certificate-template", "template-issuer",
        "cert-presave-command", "cert-postsave-command", "root-cert-files",
        "root-cert-nssdbs"]


def test_request_value_types_match_the_stock_client():
    got = {k: (sig, v) for k, sig, v in flat(request_entries(everything(), CA4))}
    assert got["CA"] == ("o", CA4)
    assert got["KEY_SIZE"] == ("x", 256)
    assert got["key-perms"] == ("x", 0o640)
    assert got["template-is-ca"] == ("b", True)
    assert got["template-ku"] == ("s", "101")
    assert got["template-eku"] == ("as", ["1.2.3.4"])
    assert got["RENEW"] == ("b", False)


def test_default_template_uses_hostname_realm_and_the_eku_name():
    s = Settings(certfile="/w/a.crt")
    apply_default_template(s, Host("vm", "ATHENA.MIT.EDU"))
    assert flat(request_entries(s, None))[-4:] == [
        ("template-subject", "s", "CN=vm"),
        ("template-principal", "as", ["host/vm@ATHENA.MIT.EDU"]),
        ("template-hostname", "as", ["vm"]),
        ("template-eku", "as", ["id-kp-serverAuth"]),
    ]


def test_default_template_leaves_out_the_principal_without_a_realm():
    s = Settings(certfile="/w/a.crt")
    apply_default_template(s, Host("vm", None))
    assert "template-principal" not in [k for k, _ in request_entries(s, None)]


def test_any_naming_option_turns_the_default_names_off():
    s = Settings(certfile="/w/a.crt", dns=["d.example"])
    apply_default_template(s, Host("vm", "R"))
    keys = dict(request_entries(s, None))
    assert keys["template-subject"].value == "CN=vm"
    assert "template-eku" not in keys
    assert "template-principal" not in keys


def test_key_usage_alone_keeps_the_default_names():
    s = Settings(certfile="/w/a.crt", ku=1)
    apply_default_template(s, Host("vm", "R"))
    assert s.eku == ["id-kp-serverAuth"]


def test_lone_certificate_file_request_says_key_storage_none():
    s = Settings(certfile="/w/a.crt", subject="CN=x")
    assert flat(request_entries(s, None))[:3] == [
        ("KEY_STORAGE", "s", "NONE"), ("CERT_STORAGE", "s", "FILE"),
        ("CERT_LOCATION", "s", "/w/a.crt")]


def test_nss_request_names_database_nickname_and_token_for_key_and_cert():
    s = Settings(dbdir="sql:/db", nickname="srv", token="tok", subject="CN=x")
    assert [k for k, _ in request_entries(s, None)][:8] == [
        "KEY_STORAGE", "KEY_LOCATION", "KEY_NICKNAME", "KEY_TOKEN",
        "CERT_STORAGE", "CERT_LOCATION", "CERT_NICKNAME", "CERT_TOKEN"]


def test_request_always_sends_track_and_ca_flags():
    got = {k: v for k, _, v in flat(request_entries(Settings(subject="CN=x"), None))}
    assert got["TRACK"] is True
    assert got["RENEW"] is True
    assert got["template-is-ca"] is False
    assert got["template-ca-path-length"] == -1


def test_key_size_zero_or_less_is_not_sent():
    keys = [k for k, _ in request_entries(Settings(subject="CN=x", key_size=-5), None)]
    assert "KEY_SIZE" not in keys


def test_new_tracking_request_sends_principal_but_not_other_names():
    assert [k for k, _, _ in flat(tracking_add_entries(everything(), CA4))] == [
        "NICKNAME", "KEY_STORAGE", "KEY_LOCATION", "CERT_STORAGE", "CERT_LOCATION",
        "KEY_PIN", "KEY_PIN_FILE", "key-owner", "key-perms", "cert-owner", "cert-perms",
        "template-challenge-password", "template-challenge-password-file",
        "template-is-ca", "template-ca-path-length", "TRACK", "RENEW", "template-profile",
        "template-ms-certificate-template", "template-principal", "template-issuer",
        "cert-presave-command", "cert-postsave-command", "CA", "root-cert-files",
        "root-cert-nssdbs"]


def test_new_tracking_request_without_key_file_sends_no_key_storage():
    keys = [k for k, _ in tracking_add_entries(Settings(certfile="/w/a.crt"), None)]
    assert keys[:2] == ["CERT_STORAGE", "CERT_LOCATION"]


def test_new_tracking_request_renews_unless_told_not_to():
    on = dict(tracking_add_entries(Settings(certfile="/c", renew_start=1), None))
    off = dict(tracking_add_entries(Settings(certfile="/c", renew_start=1, renew_stop=1),
                                    None))
    assert on["RENEW"].value is True
    assert off["RENEW"].value is False


def test_existing_tracking_request_modify_order_drops_issuer_and_ms_template():
    assert [k for k, _, _ in flat(tracking_modify_entries(everything(), CA4))] == [
        "TRACK", "RENEW", "template-principal", "template-hostname", "template-email",
        "template-ip-address", "template-ku", "template-eku", "NICKNAME", "key-owner",
        "key-perms", "cert-owner", "cert-perms", "nss-user", "KEY_PIN", "KEY_PIN_FILE", "CA",
        "template-challenge-password", "template-challenge-password-file",
        "template-is-ca", "template-ca-path-length", "template-profile",
        "cert-presave-command", "cert-postsave-command", "root-cert-files",
        "root-cert-nssdbs"]


def test_existing_tracking_request_sends_renew_only_when_asked():
    keys = [k for k, _ in tracking_modify_entries(Settings(), None)]
    assert keys == ["TRACK", "template-is-ca", "template-ca-path-length"]


def test_renew_wins_over_no_renew_when_modifying_if_given_at_all():
    got = dict(tracking_modify_entries(Settings(renew_start=1, renew_stop=1), None))
    assert got["RENEW"].value is True


def test_resubmit_sends_only_changes_plus_the_ca_flags():
    assert flat(resubmit_entries(Settings(), None)) == [
        ("template-is-ca", "b", False), ("template-ca-path-length", "x", -1)]


def test_resubmit_modify_order():
    assert [k for k, _, _ in flat(resubmit_entries(everything(), CA4))] == [
        "key-owner", "key-perms", "cert-owner", "cert-perms", "nss-user", "KEY_TYPE",
        "KEY_SIZE", "NICKNAME", "CA", "template-subject", "template-principal",
        "template-hostname", "template-email", "template-ip-address", "template-ku",
        "template-eku", "KEY_PIN", "KEY_PIN_FILE", "template-challenge-password",
        "template-challenge-password-file", "template-is-ca", "template-ca-path-length",
        "template-profile", "template-ms-certificate-template", "template-issuer",
        "cert-presave-command", "cert-postsave-command", "root-cert-files",
        "root-cert-nssdbs"]


def test_shell_escape_backslashes_shell_specials():
    assert shell_escape("a b|c&d;e(f)g<h>i\"j'k\tl") == \
        "a\\ b\\|c\\&d\\;e\\(f\\)g\\<h\\>i\\\"j\\'k\\\tl"


def test_scep_command_options_come_in_a_fixed_order():
    s = Settings(scep_url="http://h/p x", scep_root="/r", scep_ra="/ra", scep_id="my id",
                 scep_other="/o", scep_signing="/s", scep_non_renewal=True)
    assert scep_command(s) == ("/usr/lib/certmonger/scep-submit -u http://h/p\\ x -R /r "
                               "-r /ra -i my\\ id -I /o -N /s -n")


def test_scep_command_keeps_a_space_for_every_missing_word():
    assert scep_command(Settings(scep_url="http://h/p")) == \
        "/usr/lib/certmonger/scep-submit -u http://h/p" + " " * 11
    assert scep_command(Settings(scep_url="http://h/p", scep_id="id")) == \
        "/usr/lib/certmonger/scep-submit -u http://h/p     -i id     "
