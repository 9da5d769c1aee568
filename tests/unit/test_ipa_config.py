"""The IPA back-end's pure parts: where the server is, and the JSON-RPC messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pycertmonger.cas.base import OutcomeKind
from pycertmonger.cas.ipa_config import (
    IPAConfig,
    IPAOptions,
    IPASettings,
    IPAUsageError,
    jsonrpc_url,
)
from pycertmonger.cas.ipa_rpc import RPCAnswer, cert_request_body, csr_base64, read_answer

URL = "https://ipa.example.test/ipa/json"


def answer(doc: object, status: int = 200) -> RPCAnswer:
    return read_answer(URL, status, json.dumps(doc).encode())


# --- options --------------------------------------------------------------------------


def test_options_take_short_and_long_forms() -> None:
    opts = IPAOptions.parse(["-J", "https://a/ipa/json", "--cafile=/ca.pem", "-t", "/kt",
                             "--submitter-principal", "host/x@R", "-P", "p@R", "-T", "prof",
                             "--issuer=sub", "req.csr"])
    assert (opts.jsonrpc_url, opts.cafile, opts.keytab, opts.submitter_principal) == (
        "https://a/ipa/json", "/ca.pem", "/kt", "host/x@R")
    assert (opts.request_principal, opts.profile, opts.issuer, opts.csr_file) == (
        "p@R", "prof", "sub", "req.csr")


def test_xmlrpc_url_option_is_an_alias_of_the_jsonrpc_one() -> None:
    assert IPAOptions.parse(["-H", "https://a/ipa/xml"]).jsonrpc_url == "https://a/ipa/xml"


@pytest.mark.parametrize("args, message", [
    (["-K", "-t", "/kt"], "The -t option can not be used with the -K option."),
    (["-k", "p@R", "-K"], "The -K option can not be used with either the -k or the -t option."),
    (["-u", "admin"], "Both -u and -W/-w options should be specified."),
])
def test_conflicting_options_are_refused_with_certmonger_text(args: list[str],
                                                              message: str) -> None:
    with pytest.raises(IPAUsageError, match=f"^{message}$"):
        IPAOptions.parse(args)


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(IPAUsageError):
        IPAOptions.parse(["--bogus"])


# --- default.conf and the endpoint ----------------------------------------------------


def test_default_conf_global_section_is_read() -> None:
    config = IPAConfig.parse("[other]\nhost = no\n[global]\n# comment\nhost=c.example.test\n"
                             "  realm = EXAMPLE.TEST  \njsonrpc_uri = https://s/ipa/json\n")
    assert (config.host, config.realm, config.jsonrpc_uri) == (
        "c.example.test", "EXAMPLE.TEST", "https://s/ipa/json")


def test_unreadable_default_conf_is_empty(tmp_path: Path) -> None:
    assert IPAConfig.read(tmp_path / "missing.conf") == IPAConfig()
    assert IPAConfig.parse("not an ini file") == IPAConfig()


# The order below was observed with certmonger 0.79.17's ipa-submit ("Submitting request
# to ...") for each combination.
@pytest.mark.parametrize("args, config, expected", [
    ([], IPAConfig(), ""),
    (["-h", "srv:1"], IPAConfig(), "https://srv:1/ipa/json"),
    ([], IPAConfig(server="s"), "https://s/ipa/json"),
    ([], IPAConfig(host="h"), "https://h/ipa/json"),
    ([], IPAConfig(xmlrpc_uri="https://x/ipa/xml"), "https://x/ipa/json"),
    ([], IPAConfig(xmlrpc_uri="https://x/ipa/xml", jsonrpc_uri="https://j/ipa/json"),
     "https://j/ipa/json"),
    ([], IPAConfig(server="s", jsonrpc_uri="https://j/ipa/json"), "https://s/ipa/json"),
    ([], IPAConfig(host="h", xmlrpc_uri="https://x/ipa/xml"), "https://x/ipa/json"),
    (["-J", "https://jj/ipa/json"], IPAConfig(server="s"), "https://jj/ipa/json"),
    (["-h", "hh"], IPAConfig(server="s"), "https://s/ipa/json"),
    (["-h", "hh"], IPAConfig(jsonrpc_uri="https://j/ipa/json"), "https://j/ipa/json"),
    (["-h", "hh"], IPAConfig(host="h"), "https://hh/ipa/json"),
    (["-H", "https://xx/ipa/xml"], IPAConfig(server="s"), "https://xx/ipa/xml"),
])
def test_endpoint_is_chosen_in_certmonger_order(args: list[str], config: IPAConfig,
                                                expected: str) -> None:
    assert jsonrpc_url(IPAOptions.parse(args), config) == expected


def test_settings_come_from_ipa_confdir(tmp_path: Path) -> None:
    (tmp_path / "default.conf").write_text(
        "[global]\nhost = client.example.test\nrealm = EXAMPLE.TEST\n"
        "jsonrpc_uri = https://ipa.example.test/ipa/json\n")
    (tmp_path / "ca.crt").write_text("")
    settings = IPASettings.from_args([], {"IPA_CONFDIR": str(tmp_path)})
    assert settings.url == "https://ipa.example.test/ipa/json"
    assert settings.cafile == str(tmp_path / "ca.crt")
    assert settings.submitter_principal == "host/client.example.test@EXAMPLE.TEST"
    assert settings.realm == "EXAMPLE.TEST"


def test_keytab_comes_from_the_option_then_the_environment(tmp_path: Path) -> None:
    env = {"IPA_CONFDIR": str(tmp_path), "KRB5_KTNAME": "FILE:/env.keytab"}
    assert IPASettings.from_args([], env).keytab == "FILE:/env.keytab"
    assert IPASettings.from_args(["-t", "/opt.keytab"], env).keytab == "/opt.keytab"


def test_bad_command_line_is_kept_as_the_reason(tmp_path: Path) -> None:
    settings = IPASettings.from_args(["-K", "-k", "p@R"], {"IPA_CONFDIR": str(tmp_path)})
    assert settings.usage_error == "The -k option can not be used with the -K option."


# --- the messages ---------------------------------------------------------------------


def test_csr_loses_armor_and_line_breaks() -> None:
    pem = "-----BEGIN CERTIFICATE REQUEST-----\r\nMIIB\r\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    assert csr_base64(pem) == "MIIBAAAA"


def test_cert_request_body_omits_empty_options_and_adds() -> None:
    assert cert_request_body("MIIB", "p@R") == {
        "method": "cert_request", "params": [["MIIB"], {"principal": "p@R", "add": True}]}
    assert cert_request_body("MIIB", "p@R", "prof", "sub")["params"][1] == {
        "principal": "p@R", "profile_id": "prof", "cacn": "sub", "add": True}


@pytest.mark.parametrize("code, kind", [
    (1100, OutcomeKind.UNREACHABLE), (2100, OutcomeKind.REJECTED),
    (3009, OutcomeKind.REJECTED), (4301, OutcomeKind.UNREACHABLE),
    (5000, OutcomeKind.UNREACHABLE), (911, OutcomeKind.UNREACHABLE),
])
def test_error_codes_map_as_in_ipa_submit(code: int, kind: OutcomeKind) -> None:
    got = answer({"result": None, "error": {"code": code, "message": "m"}})
    assert (got.kind, got.code) == (kind, code)


def test_http_error_status_is_unreachable() -> None:
    got = read_answer(URL, 401, b"")
    assert (got.kind, got.error) == (OutcomeKind.UNREACHABLE,
                                     "JSON-RPC call failed with HTTP status code: 401")


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"result": null}',
                                  b'{"result": {"result": 1}}'])
def test_malformed_answers_are_unreachable(body: bytes) -> None:
    assert read_answer(URL, 200, body).kind is OutcomeKind.UNREACHABLE


def test_success_gives_the_inner_result() -> None:
    got = answer({"result": {"result": {"certificate": "MIIB"}}, "error": None})
    assert (got.kind, got.result) == (OutcomeKind.ISSUED, {"certificate": "MIIB"})
