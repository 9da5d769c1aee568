"""Notifications: certmonger's message texts and their delivery."""

from __future__ import annotations

import asyncio
import json
import syslog
import time
from pathlib import Path

import pytest

from pycertmonger import notify as notify_module
from pycertmonger.model import Request
from pycertmonger.notify import (
    NotifyEvent,
    display_time,
    message_for,
    notify,
    parse_syslog_destination,
)

NOW = 1_800_000_000
FILE_REQ = Request(nickname="web", cert_storage_type="FILE",
                   cert_storage_location="/etc/pki/tls/certs/web.pem", ca_name="IPA",
                   cert_not_after=NOW + 86400)
NSS_REQ = Request(nickname="ldap", cert_storage_type="NSSDB",
                  cert_storage_location="sql:/etc/dirsrv/slapd-X", cert_nickname="Server-Cert",
                  ca_name="IPA", cert_not_after=NOW + 86400)
TOKEN_REQ = Request(nickname="hsm", cert_storage_type="NSSDB",
                    cert_storage_location="sql:/etc/pki/nssdb", cert_nickname="Server-Cert",
                    cert_token="HSM", ca_name="IPA", cert_not_after=NOW + 86400)


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- message texts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (NotifyEvent.REJECTED, ('Request for certificate to be stored in file '
                               '"/etc/pki/tls/certs/web.pem" rejected by CA.')),
        (NotifyEvent.ISSUED_SAVED, ('Certificate in file "/etc/pki/tls/certs/web.pem" issued by '
                                   'CA and saved.')),
        (NotifyEvent.ISSUED_NOT_SAVED, ('Certificate in file "/etc/pki/tls/certs/web.pem" issued '
                                       'by CA but not saved.')),
        (NotifyEvent.ISSUED_CA_NOT_SAVED, ('Certificate in file "/etc/pki/tls/certs/web.pem" '
                                          'issued by CA and saved, but the CA certificate was '
                                          'not saved.')),
        (NotifyEvent.CA_NOT_SAVED, ('CA certificate for certificate in file '
                                   '"/etc/pki/tls/certs/web.pem" (CA "IPA") not saved.')),
    ],
)
def test_file_messages(event, text):
    assert message_for(event, FILE_REQ, now=NOW) == text


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (NotifyEvent.REJECTED, ('Request for certificate to be named "Server-Cert" in database '
                               '"sql:/etc/dirsrv/slapd-X" rejected by CA.')),
        (NotifyEvent.ISSUED_SAVED, ('Certificate named "Server-Cert" in database '
                                   '"sql:/etc/dirsrv/slapd-X" issued by CA and saved.')),
        (NotifyEvent.ISSUED_NOT_SAVED, ('Certificate named "Server-Cert" in database '
                                       '"sql:/etc/dirsrv/slapd-X" issued by CA but not saved.')),
        (NotifyEvent.ISSUED_CA_NOT_SAVED, ('Certificate named "Server-Cert" in database '
                                          '"sql:/etc/dirsrv/slapd-X" issued by CA and saved, '
                                          'but the CA certificate was not saved.')),
        (NotifyEvent.CA_NOT_SAVED, ('CA certificate for certificate named "Server-Cert" in '
                                   'database "sql:/etc/dirsrv/slapd-X" (CA "IPA") not saved.')),
    ],
)
def test_nssdb_messages(event, text):
    assert message_for(event, NSS_REQ, now=NOW) == text


def test_nssdb_messages_name_the_token_when_there_is_one():
    assert message_for(NotifyEvent.ISSUED_SAVED, TOKEN_REQ, now=NOW) == (
        'Certificate named "Server-Cert" in token "HSM" in database "sql:/etc/pki/nssdb" '
        'issued by CA and saved.')


def test_file_validity_ending_gives_the_end_time(utc):
    assert message_for(NotifyEvent.VALIDITY_ENDING, FILE_REQ, now=NOW) == (
        'Certificate in file "/etc/pki/tls/certs/web.pem" will not be valid after '
        '2027-01-16 08:00:00 UTC.')


def test_file_validity_ended(utc):
    assert message_for(NotifyEvent.VALIDITY_ENDING, FILE_REQ, now=NOW + 2 * 86400) == (
        'Certificate in file "/etc/pki/tls/certs/web.pem" is no longer valid.')


def test_nssdb_validity_ending_without_token_says_will_expire_at(utc):
    assert message_for(NotifyEvent.VALIDITY_ENDING, NSS_REQ, now=NOW) == (
        'Certificate named "Server-Cert" in database "sql:/etc/dirsrv/slapd-X" will expire at '
        '2027-01-16 08:00:00 UTC.')


def test_nssdb_validity_ending_with_token_says_will_not_be_valid_after(utc):
    assert message_for(NotifyEvent.VALIDITY_ENDING, TOKEN_REQ, now=NOW) == (
        'Certificate named "Server-Cert" in token "HSM" in database "sql:/etc/pki/nssdb" will '
        'not be valid after 2027-01-16 08:00:00 UTC.')


def test_nssdb_validity_ended():
    assert message_for(NotifyEvent.VALIDITY_ENDING, NSS_REQ, now=NOW + 2 * 86400) == (
        'Certificate named "Server-Cert" in database "sql:/etc/dirsrv/slapd-X" is no longer '
        'valid.')


def test_display_time_is_local_time_with_its_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        assert display_time(NOW) == "2027-01-15 09:00:00 CET"
    finally:
        monkeypatch.undo()
        time.tzset()


# --- syslog destinations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("daemon.notice", (syslog.LOG_DAEMON, syslog.LOG_NOTICE)),
        ("", (syslog.LOG_USER, syslog.LOG_NOTICE)),
        ("LOCAL3|ERR", (syslog.LOG_LOCAL3, syslog.LOG_ERR)),
        ("mail,warning", (syslog.LOG_MAIL, syslog.LOG_WARNING)),
        ("authpriv:debug", (syslog.LOG_AUTHPRIV, syslog.LOG_DEBUG)),
        ("nonsense/crit", (syslog.LOG_USER, syslog.LOG_CRIT)),
    ],
)
def test_syslog_destination_gives_facility_and_priority(destination, expected):
    assert parse_syslog_destination(destination) == expected


# --- delivery --------------------------------------------------------------------------


ENV = {"PATH": "/usr/bin:/bin", "LC_CTYPE": "C.UTF-8"}


def deliver(method, destination, message="Certificate issued.", env=None) -> bool:
    return asyncio.run(notify(method, destination, message, env if env is not None else ENV))


@pytest.fixture
def syslogged(monkeypatch):
    sent = []
    monkeypatch.setattr(notify_module.syslog, "syslog", lambda prio, msg: sent.append((prio, msg)))
    return sent


def test_syslog_delivery_uses_the_destinations_facility_and_priority(syslogged):
    assert deliver("syslog", "daemon.notice", "hello")
    assert syslogged == [(syslog.LOG_DAEMON | syslog.LOG_NOTICE, "hello")]


def test_unknown_method_falls_back_to_syslog(syslogged):
    assert deliver("carrier-pigeon", "local1.info", "hello")
    assert syslogged == [(syslog.LOG_LOCAL1 | syslog.LOG_INFO, "hello")]


def test_none_delivers_nothing(syslogged):
    assert deliver("none", "daemon.notice")
    assert syslogged == []


def test_stdout_prints_the_message(capsys):
    assert deliver("stdout", "", "hello")
    assert capsys.readouterr().out == "hello\n"


def test_command_gets_the_message_in_its_environment(tmp_path: Path):
    out = tmp_path / "seen.json"
    script = tmp_path / "notify-me"
    script.write_text(
        "#!/usr/bin/python3 -I\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ), 'fds': "
        "[os.readlink(f'/proc/self/fd/{n}') for n in (0, 1, 2)]}, "
        f"open({str(out)!r}, 'w'))\n")
    script.chmod(0o755)
    assert deliver("command", f"{script} 'an argument'", "Certificate expires soon.")
    seen = json.loads(out.read_text())
    assert seen["argv"] == ["an argument"]
    assert seen["env"]["CERTMONGER_NOTIFICATION"] == "Certificate expires soon."
    assert seen["env"]["PATH"] == "/usr/bin:/bin"
    assert seen["fds"] == ["/dev/null"] * 3


def test_failing_command_is_reported_not_raised():
    assert deliver("command", "false") is False


def test_unparseable_command_is_reported_not_raised():
    assert deliver("command", "notify 'oops") is False


def test_empty_command_is_reported_not_raised():
    assert deliver("command", "") is False


@pytest.fixture
def fake_mail(tmp_path: Path) -> tuple[dict[str, str], Path]:
    record = tmp_path / "mail-args"
    mail = tmp_path / "bin" / "mail"
    mail.parent.mkdir()
    mail.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    mail.chmod(0o755)
    return {"PATH": f"{mail.parent}:/usr/bin:/bin"}, record


def test_mail_sends_the_message_as_subject(fake_mail):
    env, record = fake_mail
    assert deliver("mail", "admin@example.com", "Certificate expires soon.", env)
    assert record.read_text() == "-s\nCertificate expires soon.\nadmin@example.com\n"


@pytest.mark.parametrize("method", ["email", "mailto", "MAIL"])
def test_mail_method_aliases(fake_mail, method):
    env, record = fake_mail
    assert deliver(method, "admin", "m", env)
    assert record.exists()


def test_mail_defaults_to_root(fake_mail):
    env, record = fake_mail
    deliver("mail", "", "m", env)
    assert record.read_text().splitlines()[-1] == "root"


def test_mail_without_a_mail_program_is_reported_not_raised(tmp_path: Path):
    assert deliver("mail", "root", "m", {"PATH": str(tmp_path)}) is False


def test_delivery_errors_are_never_raised(monkeypatch):
    def broken(prio, msg):
        raise OSError("no /dev/log")

    monkeypatch.setattr(notify_module.syslog, "syslog", broken)
    assert deliver("syslog", "daemon.notice") is False
