"""Options are checked as they are read, with the stock client's messages."""

from __future__ import annotations

from pathlib import Path

from pycertmonger.getcert import options
from pycertmonger.getcert.console import Stop
from pycertmonger.getcert.popt import Parser
from pycertmonger.getcert.settings import Reader, Settings


def read(subcommand: str, *argv: str, cwd: str = "/", realm: str | None = "R.TEST"):
    said: list[str] = []
    reader = Reader(subcommand, said.append, lambda: realm, cwd=cwd)
    try:
        for option, value in Parser(options.table(subcommand), argv).options():
            reader.apply(option, value)
    except Stop as stop:
        return reader.settings, said, stop
    return reader.settings, said, None


def test_unsupported_key_type_is_refused_with_the_known_types():
    _, said, stop = read("request", "-G", "DSA")
    assert said == ['No support for generating "DSA" keys.', "Known key types include: RSA EC"]
    assert stop is not None and stop.code == 1 and not stop.usage


def test_unknown_key_usage_name_is_refused():
    _, said, stop = read("request", "-u", "bogus")
    assert said == ['Unrecognized keyUsage "bogus".'] and stop is not None


def test_unevaluable_eku_is_refused():
    _, said, stop = read("resubmit", "-U", "serverAuth")
    assert said == ['Could not evaluate OID "serverAuth".'] and stop is not None


def test_malformed_principal_is_refused():
    _, said, stop = read("request", "-K", "a@b@c")
    assert said == [('Error parsing Kerberos principal name "a@b@c": '
                    "Malformed representation of principal.")]
    assert stop is not None


def test_principal_without_realm_and_no_default_realm_is_refused():
    _, said, _ = read("request", "-K", "host/x", realm=None)
    assert said == [('Error parsing Kerberos principal name "host/x": '
                    "Configuration file does not specify default realm.")]


def test_empty_principal_is_kept_as_is():
    settings, _, _ = read("request", "-K", "", "-K", "host/x")
    assert settings.principal == ["", "host/x@R.TEST"]


def test_relative_certificate_file_is_made_absolute_with_a_message(tmp_path: Path):
    settings, said, _ = read("request", "-f", "a.crt", cwd=str(tmp_path))
    assert settings.certfile == f"{tmp_path}/a.crt"
    assert said == [(f'Path "a.crt" is not absolute, attempting to use "{tmp_path}/a.crt" '
                    "instead.")]


def test_pin_file_is_passed_on_unchecked():
    settings, said, _ = read("request", "-p", "rel.pin")
    assert (settings.pinfile, said) == ("rel.pin", [])


def test_key_usage_names_accumulate_into_a_mask():
    settings, _, _ = read("request", "-u", "digitalSignature", "-u", "keyEncipherment")
    assert settings.ku == 0b101


def test_request_renew_counter_follows_the_last_flags():
    assert read("request", "-R", "-r")[0].renew_count > 0
    assert read("request", "-r", "-R")[0].renew_count == 0


def test_for_ca_and_not_for_ca_last_one_wins():
    assert read("request", "--for-ca", "--not-for-ca")[0].is_ca is False
    assert read("request", "--not-for-ca", "--for-ca")[0].is_ca is True


def test_stop_tracking_refuses_renew_and_wait_with_usage_only():
    for flag in ("-r", "-R", "-w"):
        _, said, stop = read("stop-tracking", flag)
        assert said == [] and stop is not None and stop.usage


def test_list_token_means_tracking_only():
    assert read("list", "--token", "x")[0].tracking_only is True


def test_scep_certificate_files_must_hold_pem(tmp_path: Path):
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage\n")
    _, said, stop = read("add-scep-ca", "-N", str(bad))
    assert said == [f"The certificate(s) in {bad} is not valid PEM"] and stop is not None


def test_defaults():
    s = Settings()
    assert (s.is_ca, s.path_length, s.renew_count, s.wait_timeout) == (False, -1, 1, None)
