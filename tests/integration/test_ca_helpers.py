"""External CA helpers and CA data through our daemon, driven by the stock getcert.

Each test adds a CA whose helper is a scripted program (tests/support/scripted_helper.py)
or one of certmonger's own helpers, then checks what the daemon made of the answers:
request states, `ca-error`, saved files, the helper's environment, and the CA's
properties over D-Bus where getcert has no command for them.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from tests.support.bus import STOCK_HELPERS, Daemon, Getcert, PrivateBus
from tests.support.scripted_helper import (
    CA_DATA_OPERATIONS,
    HelperPKI,
    ScriptedHelper,
    eventually,
    issued,
    said,
)

NAME = "org.fedorahosted.certmonger"
BASE = "/org/fedorahosted/certmonger"
CA_IFACE = "org.fedorahosted.certmonger.ca"
REQUEST_IFACE = "org.fedorahosted.certmonger.request"
PROPERTIES = "org.freedesktop.DBus.Properties"
VERSION = "certmonger 0.79.17"
# What the daemon adds to every helper's environment, apart from the operation's data.
DAEMON_VARIABLES = {"CERTMONGER_LOCAL_CA_DIR", "CERTMONGER_CONFIG_DIR",
                    "CERTMONGER_REQUESTS_DIR", "CERTMONGER_CAS_DIR"}


class Certmonger:
    """Raw D-Bus calls to the daemon, for what getcert has no command for."""

    def __init__(self, bus: PrivateBus) -> None:
        self.bus = bus

    def call(self, path: str, interface: str, member: str, signature: str = "",
             *args: Any) -> list[Any]:
        async def go() -> Message:
            client = await MessageBus(bus_address=self.bus.address).connect()
            try:
                reply = await asyncio.wait_for(client.call(Message(
                    destination=NAME, path=path, interface=interface, member=member,
                    signature=signature, body=list(args))), 10)
            finally:
                client.disconnect()
            assert reply is not None
            return reply
        reply = asyncio.run(go())
        assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
        return list(reply.body)

    def ca_path(self, nickname: str) -> str:
        (path,) = self.call(BASE, NAME, "find_ca_by_nickname", "s", nickname)
        return path

    def request_path(self, nickname: str) -> str:
        (path,) = self.call(BASE, NAME, "find_request_by_nickname", "s", nickname)
        return path

    def _get(self, path: str, interface: str, name: str) -> Any:
        body = self.call(path, PROPERTIES, "Get", "ss", interface, name)
        if not body:
            return None  # no body: unset
        value = body[0].value
        if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
            return [list(item) for item in value]  # a(ss): [nickname, PEM] pairs
        return value

    def ca_property(self, nickname: str, name: str) -> Any:
        return self._get(self.ca_path(nickname), CA_IFACE, name)

    def request_property(self, nickname: str, name: str) -> Any:
        return self._get(self.request_path(nickname), REQUEST_IFACE, name)

    def status(self, nickname: str) -> tuple[str, bool]:
        state, stuck = self.call(self.request_path(nickname), REQUEST_IFACE, "get_status")
        return state, stuck

    def wait_state(self, nickname: str, *states: str) -> str:
        def reached() -> str | None:
            state = self.status(nickname)[0]
            return state if state in states else None
        return eventually(reached, what=f"{nickname} to reach {states}")


@pytest.fixture(scope="module")
def pki() -> HelperPKI:
    return HelperPKI.create()


@pytest.fixture
def cm(bus: PrivateBus) -> Certmonger:
    return Certmonger(bus)


@pytest.fixture
def helper(tmp_path: Path, pki: HelperPKI) -> ScriptedHelper:
    return ScriptedHelper(tmp_path / "helper", pki)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def add_ca(getcert: Getcert, name: str, command: str,
           helper: ScriptedHelper | None = None) -> None:
    """`getcert add-ca`, then wait until the CA's data has been asked for."""
    result = getcert("add-ca", "-c", name, "-e", command)
    assert (result.returncode, result.stdout) == (0, f'New CA "{name}" added.\n'), result
    if helper is not None:
        eventually(lambda: set(helper.calls()) >= set(CA_DATA_OPERATIONS),
                   what="every CA-data operation")


def request(getcert: Getcert, out: Path, name: str, ca: str, *extra: str,
            wait: bool = True) -> subprocess.CompletedProcess[str]:
    """`getcert request` of a file-stored certificate `name` from `ca`."""
    return getcert("request", *(["-w"] if wait else []), "-c", ca, "-I", name,
                   "-f", str(out / f"{name}.crt"), "-k", str(out / f"{name}.key"),
                   "-N", f"CN={name}.example.test", *extra)


def listing(getcert: Getcert, name: str) -> str:
    result = getcert("list", "-i", name)
    assert result.returncode == 0, result
    return result.stdout


def cert_of(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def pems_in(path: Path) -> list[str]:
    text = path.read_text()
    return [block + "-----END CERTIFICATE-----\n"
            for block in text.split("-----END CERTIFICATE-----\n") if block.strip()]


def certmonger_variables(env: dict[str, str]) -> set[str]:
    return {name for name in env if name.startswith("CERTMONGER_")} - DAEMON_VARIABLES


# -- SUBMIT answers: the issued certificate in each form -------------------------------------


def test_add_ca_runs_every_ca_data_operation_with_only_the_nickname(
        daemon: Daemon, stock_getcert: Getcert, helper: ScriptedHelper) -> None:
    add_ca(stock_getcert, "scripted", helper.command, helper)
    for operation in CA_DATA_OPERATIONS:
        env = helper.environment(operation)
        assert certmonger_variables(env) == {"CERTMONGER_OPERATION", "CERTMONGER_CA_NICKNAME"}
        assert env["CERTMONGER_OPERATION"] == operation
        assert env["CERTMONGER_CA_NICKNAME"] == "scripted"
        assert env["PATH"] == "/usr/bin:/bin:/usr/sbin:/sbin"


def test_pem_answer_is_saved_and_the_request_monitored(
        daemon: Daemon, stock_getcert: Getcert, helper: ScriptedHelper, pki: HelperPKI,
        out: Path) -> None:
    helper.answer("SUBMIT", issued("pem"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    result = request(stock_getcert, out, "pem", "scripted")
    assert (result.returncode, result.stdout) == (0, 'New signing request "pem" added.\n')
    text = listing(stock_getcert, "pem")
    assert "\tstatus: MONITORING\n\tstuck: no\n" in text
    assert "\tCA: scripted\n\tissuer: CN=Test Intermediate\n" in text
    cert_of(out / "pem.crt").verify_directly_issued_by(pki.issuer)


def test_der_answer_is_accepted(daemon: Daemon, stock_getcert: Getcert,
                                helper: ScriptedHelper, pki: HelperPKI, out: Path) -> None:
    helper.answer("SUBMIT", issued("der"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "der", "scripted").returncode == 0
    cert = cert_of(out / "der.crt")
    assert cert.subject.rfc4514_string() == "CN=der.example.test"
    cert.verify_directly_issued_by(pki.issuer)


def test_pkcs7_answer_gives_the_leaf_and_its_chain_upward(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        pki: HelperPKI, out: Path) -> None:
    helper.answer("SUBMIT", issued("pkcs7"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "p7", "scripted").returncode == 0
    assert cert_of(out / "p7.crt").subject.rfc4514_string() == "CN=p7.example.test"
    assert cm.request_property("p7", "cert-chain") == [["chain #1", pki.issuer_pem],
                                                       ["chain #2", pki.root_pem]]


def test_json_answer_saves_the_chain_and_the_roots_where_asked(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        pki: HelperPKI, out: Path) -> None:
    helper.answer("SUBMIT", issued("json"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    # getcert has -F for root files only; other-cert-files is a D-Bus key.
    cm.call(BASE, NAME, "add_request", "a{sv}", {
        "NICKNAME": Variant("s", "js"), "CA": Variant("o", cm.ca_path("scripted")),
        "CERT_STORAGE": Variant("s", "FILE"), "CERT_LOCATION": Variant("s", str(out / "js.crt")),
        "KEY_STORAGE": Variant("s", "FILE"), "KEY_LOCATION": Variant("s", str(out / "js.key")),
        "SUBJECT": Variant("s", "CN=js.example.test"),
        "root-cert-files": Variant("as", [str(out / "roots.pem")]),
        "other-cert-files": Variant("as", [str(out / "chain.pem")])})
    cm.wait_state("js", "MONITORING")
    assert cm.request_property("js", "cert-chain") == [["Test Intermediate", pki.issuer_pem]]
    assert cm.request_property("js", "cert-roots") == [["Test Root", pki.root_pem]]
    assert pems_in(out / "roots.pem") == [pki.root_pem]
    assert pems_in(out / "chain.pem") == [pki.issuer_pem]


# -- what a helper is told ----------------------------------------------------------------


def test_submit_environment_describes_the_request(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        out: Path) -> None:
    helper.answer("SUBMIT", issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "env", "scripted", "-D", "a.example.test",
                   "-D", "b.example.test", "-E", "x@example.test", "-K", "host/a@EXAMPLE.TEST",
                   "-T", "caServerCert", "-X", "sub-ca").returncode == 0
    env = helper.environment("SUBMIT")
    assert env["CERTMONGER_OPERATION"] == "SUBMIT"
    assert env["CERTMONGER_CSR"] == cm.request_property("env", "csr")
    assert env["CERTMONGER_CSR"].startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    assert env["CERTMONGER_REQ_SUBJECT"] == "CN=env.example.test"
    assert env["CERTMONGER_REQ_HOSTNAME"] == "a.example.test\nb.example.test"
    assert env["CERTMONGER_REQ_EMAIL"] == "x@example.test"
    assert env["CERTMONGER_REQ_PRINCIPAL"] == "host/a@EXAMPLE.TEST"
    assert env["CERTMONGER_CA_PROFILE"] == "caServerCert"
    assert env["CERTMONGER_CA_ISSUER"] == "sub-ca"
    assert env["CERTMONGER_CA_NICKNAME"] == "scripted"
    assert env["CERTMONGER_KEY_TYPE"] == "RSA"
    assert "CERTMONGER_CERTIFICATE" not in env  # nothing held yet
    assert "CERTMONGER_CA_COOKIE" not in env


def test_renewal_passes_the_current_certificate(
        daemon: Daemon, stock_getcert: Getcert, helper: ScriptedHelper, out: Path) -> None:
    helper.answer("SUBMIT", issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "renew", "scripted").returncode == 0
    first = (out / "renew.crt").read_text()
    result = stock_getcert("resubmit", "-w", "-i", "renew")
    assert (result.returncode, result.stdout) == (
        0, 'Resubmitting "renew" to "scripted".\n')
    assert [env["CERTMONGER_CERTIFICATE"].strip()
            for env in helper.environments("SUBMIT")[1:]] == [first.strip()]
    assert (out / "renew.crt").read_text() != first


# -- every exit status of SUBMIT and POLL -------------------------------------------------


def test_exit_1_stores_the_cookie_and_refresh_polls_with_it(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        out: Path) -> None:
    helper.answer("SUBMIT", said(1, "request-17\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "cookie", "scripted").returncode == 5  # CA working
    assert cm.status("cookie") == ("CA_WORKING", False)
    assert cm.request_property("cookie", "ca-cookie") == "request-17"
    helper.answer("POLL", issued())
    result = stock_getcert("refresh", "-i", "cookie")
    assert result.stdout == "Request ID 'cookie' being refreshed.\n"
    cm.wait_state("cookie", "MONITORING")
    poll = helper.environment("POLL")
    assert poll["CERTMONGER_OPERATION"] == "POLL"
    assert poll["CERTMONGER_CA_COOKIE"] == "request-17"
    assert helper.calls("SUBMIT") == ["SUBMIT"]
    assert cm.request_property("cookie", "ca-cookie") is None


def test_exit_2_is_rejected_with_the_helpers_first_line_as_ca_error(
        daemon: Daemon, stock_getcert: Getcert, helper: ScriptedHelper, out: Path) -> None:
    helper.answer("SUBMIT", said(2, "Profile not allowed.\nmore detail\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "rej", "scripted").returncode == 2
    assert ("\tstatus: CA_REJECTED\n\tca-error: Profile not allowed.\n\tstuck: yes\n"
            in listing(stock_getcert, "rej"))


def test_exit_3_is_unreachable_not_stuck_and_refresh_retries_it(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        out: Path) -> None:
    helper.answer("SUBMIT", said(3, "Server down.\n"), issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "down", "scripted").returncode == 3
    assert ("\tstatus: CA_UNREACHABLE\n\tca-error: Server down.\n\tstuck: no\n"
            in listing(stock_getcert, "down"))
    assert stock_getcert("refresh", "-i", "down").returncode == 0
    cm.wait_state("down", "MONITORING")
    assert helper.calls("SUBMIT") == ["SUBMIT", "SUBMIT"]
    assert cm.request_property("down", "ca-error") is None


def test_exit_3_is_retried_when_the_daemon_starts_again(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        out: Path) -> None:
    helper.answer("SUBMIT", said(3, "Server down.\n"), issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "down", "scripted").returncode == 3
    daemon.restart()
    cm.wait_state("down", "MONITORING")


def test_exit_4_is_unconfigured_and_stuck(
        daemon: Daemon, stock_getcert: Getcert, helper: ScriptedHelper, out: Path) -> None:
    helper.answer("SUBMIT", said(4, "No agent credentials configured.\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "unconf", "scripted").returncode == 4
    assert ("\tstatus: CA_UNCONFIGURED\n\tca-error: No agent credentials configured.\n"
            "\tstuck: yes\n" in listing(stock_getcert, "unconf"))


def test_exit_5_waits_with_the_cookie_and_refresh_polls_with_it(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        out: Path) -> None:
    helper.answer("SUBMIT", said(5, "3600\nstate=check&requestId=9\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "later", "scripted").returncode == 5
    assert cm.status("later") == ("CA_WORKING", False)
    assert cm.request_property("later", "ca-cookie") == "state=check&requestId=9"
    helper.answer("POLL", issued())
    assert stock_getcert("refresh", "-i", "later").returncode == 0
    cm.wait_state("later", "MONITORING")
    assert helper.environment("POLL")["CERTMONGER_CA_COOKIE"] == "state=check&requestId=9"


def test_exit_6_on_submit_needs_guidance(
        daemon: Daemon, stock_getcert: Getcert, helper: ScriptedHelper, out: Path) -> None:
    helper.answer("SUBMIT", said(6, "SUBMIT is not supported here.\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "nosub", "scripted").returncode == 4
    assert ("\tstatus: NEED_GUIDANCE\n\tca-error: SUBMIT is not supported here.\n"
            "\tstuck: yes\n" in listing(stock_getcert, "nosub"))


def test_exit_17_sends_the_request_back_for_a_new_key(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        out: Path) -> None:
    # The new key and the second submission follow 30 s later: see
    # test_ca_data_schedule.py for the rest of the way, on a fake clock.
    helper.answer("SUBMIT", said(17, "Key too weak.\n"), issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "rekey", "scripted", wait=False).returncode == 0
    eventually(lambda: helper.calls("SUBMIT"))
    assert cm.wait_state("rekey", "NEED_KEY_PAIR")
    assert cm.status("rekey") == ("NEED_KEY_PAIR", False)


# -- certmonger's local-submit ------------------------------------------------------------


def local_ca_root(cm: Certmonger, nickname: str) -> str:
    roots = eventually(lambda: cm.ca_property(nickname, "root-certs"),
                       what=f"the roots of {nickname}")
    assert [nick for nick, _ in roots] == ["Local Signing Authority"]
    return roots[0][1]


@pytest.mark.parametrize("option", ["-d {}", "-d{}", "-d={}", "--ca-data-directory={}",
                                    "--ca-data-directory {}", "-v -d {}"])
def test_local_submit_command_uses_the_directory_it_names(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, tmp_path: Path, out: Path,
        option: str) -> None:
    ca_dir = tmp_path / "localca"
    ca_dir.mkdir()
    add_ca(stock_getcert, "mylocal", f"{STOCK_HELPERS}/local-submit " + option.format(ca_dir))
    root = local_ca_root(cm, "mylocal")
    assert {"creds", "serial"} <= {p.name for p in ca_dir.iterdir()}
    assert root != local_ca_root(cm, "local")  # not the daemon's own local CA
    assert request(stock_getcert, out, "lc", "mylocal", "-F", str(out / "ca.pem")).returncode == 0
    assert pems_in(out / "ca.pem") == [root]
    cert_of(out / "lc.crt").verify_directly_issued_by(
        x509.load_pem_x509_certificate(root.encode()))


def wrapped_local_submit(ca_dir: Path) -> str:
    """certmonger's local-submit run as an external helper (under another name)."""
    return (f"/bin/sh -c 'exec {STOCK_HELPERS}/local-submit -d {ca_dir} \"$@\"' "
            "stock-local-submit")


def test_stock_local_submit_works_as_an_external_helper(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, tmp_path: Path,
        out: Path) -> None:
    ca_dir = tmp_path / "localca"
    ca_dir.mkdir()
    add_ca(stock_getcert, "stocklocal", wrapped_local_submit(ca_dir))
    root = local_ca_root(cm, "stocklocal")
    assert eventually(lambda: cm.ca_property("stocklocal", "aka")) == \
        f"Local Signing Authority ({VERSION})"
    assert {"creds", "serial"} <= {p.name for p in ca_dir.iterdir()}
    assert request(stock_getcert, out, "sl", "stocklocal", "-F",
                   str(out / "ca.pem")).returncode == 0
    assert pems_in(out / "ca.pem") == [root]
    cert = cert_of(out / "sl.crt")
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(root.encode()))
    assert "CN=Local Signing Authority" in listing(stock_getcert, "sl")


def test_in_process_and_stock_local_submit_answer_alike_from_one_directory(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, tmp_path: Path,
        out: Path) -> None:
    ca_dir = tmp_path / "localca"
    ca_dir.mkdir()
    add_ca(stock_getcert, "ours", f"{STOCK_HELPERS}/local-submit -d {ca_dir}")
    root = local_ca_root(cm, "ours")
    add_ca(stock_getcert, "theirs", wrapped_local_submit(ca_dir))
    assert local_ca_root(cm, "theirs") == root
    for name in ("ours", "theirs"):
        assert cm.ca_property(name, "aka") == f"Local Signing Authority ({VERSION})"
        assert request(stock_getcert, out, f"by-{name}", name).returncode == 0
    ours, theirs = cert_of(out / "by-ours.crt"), cert_of(out / "by-theirs.crt")
    for cert in (ours, theirs):
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(root.encode()))
    assert ours.issuer == theirs.issuer
    assert ours.serial_number != theirs.serial_number  # one serial counter


# -- certmonger's scep-submit, for CA data --------------------------------------------------


def closed_port() -> int:
    """A local TCP port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_stock_scep_submit_answers_the_ca_data_operations(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger) -> None:
    url = f"http://127.0.0.1:{closed_port()}/scep"
    add_ca(stock_getcert, "scep", f"/bin/sh -c 'exec {STOCK_HELPERS}/scep-submit -u {url} "
           "\"$@\"' stock-scep-submit")
    assert eventually(lambda: cm.ca_property("scep", "aka")) == f"SCEP ({VERSION})"
    # It answers the requirement queries with SCEP names only, which map to no property.
    assert not cm.ca_property("scep", "required-enroll-attributes")
    assert not cm.ca_property("scep", "required-renew-attributes")
    assert not cm.ca_property("scep", "scep-ca-capabilities")
    assert not cm.ca_property("scep", "root-certs")
    # Fetching the capabilities failed: ours says why (certmonger leaves ca-error empty).
    error = eventually(lambda: cm.ca_property("scep", "ca-error"))
    assert url in error


# -- CA data --------------------------------------------------------------------------------


def roots_answer(*sections: list[tuple[str, str]]) -> str:
    """A legacy FETCH-ROOTS answer: nickname + PEM pairs, sections split by a blank line."""
    return "\n".join("".join(f"{nick}\n{pem}" for nick, pem in section)
                     for section in sections)


def test_identify_answer_is_how_the_ca_identifies_itself(
        daemon: Daemon, stock_getcert: Getcert, helper: ScriptedHelper) -> None:
    helper.answer("IDENTIFY", said(0, "Example CA (v2.1)\nignored\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)

    def listed() -> str | None:
        text = stock_getcert("list-cas", "-v", "-c", "scripted").stdout
        return text if "self-identifies" in text else None
    assert eventually(listed).startswith(
        "CA 'scripted':\n\tself-identifies as: Example CA (v2.1)\n\tis-default: no\n"
        f"\tca-type: EXTERNAL\n\thelper-location: {helper.command}\n")


def test_fetch_roots_sections_fill_the_three_certificate_lists(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        pki: HelperPKI) -> None:
    helper.answer("FETCH-ROOTS", said(0, roots_answer(
        [("Test Root", pki.root_pem)], [("Old Root", pki.root_pem)],
        [("Test Intermediate", pki.issuer_pem)])))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert eventually(lambda: cm.ca_property("scripted", "root-certs")) == [
        ["Test Root", pki.root_pem]]
    assert cm.ca_property("scripted", "root-other-certs") == [["Old Root", pki.root_pem]]
    assert cm.ca_property("scripted", "other-certs") == [["Test Intermediate", pki.issuer_pem]]


def test_fetched_roots_are_saved_to_the_requests_ca_file_on_issuance(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        pki: HelperPKI, out: Path) -> None:
    helper.answer("FETCH-ROOTS", said(0, roots_answer([("Test Root", pki.root_pem)])))
    helper.answer("SUBMIT", issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    eventually(lambda: cm.ca_property("scripted", "root-certs"))
    assert request(stock_getcert, out, "withca", "scripted", "-F",
                   str(out / "ca.pem")).returncode == 0
    assert pems_in(out / "ca.pem") == [pki.root_pem]


def test_new_roots_are_saved_to_the_ca_file_of_a_monitored_request(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        pki: HelperPKI, out: Path) -> None:
    helper.answer("SUBMIT", issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "later", "scripted", "-F",
                   str(out / "ca.pem")).returncode == 0
    assert not (out / "ca.pem").exists()  # nothing to save yet
    helper.answer("FETCH-ROOTS", said(0, roots_answer([("Test Root", pki.root_pem)])))
    assert stock_getcert("refresh-ca", "-c", "scripted").stdout == \
        "Data for CA 'scripted' being refreshed.\n"
    eventually(lambda: (out / "ca.pem").exists(), what="the CA file")
    assert pems_in(out / "ca.pem") == [pki.root_pem]


def test_fetched_roots_are_saved_to_the_cas_own_root_files(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        pki: HelperPKI, out: Path) -> None:
    add_ca(stock_getcert, "scripted", helper.command, helper)
    cm.call(cm.ca_path("scripted"), PROPERTIES, "Set", "ssv", CA_IFACE, "root-cert-files",
            Variant("as", [str(out / "ca-roots.pem")]))
    assert cm.ca_property("scripted", "root-cert-files") == [str(out / "ca-roots.pem")]
    helper.answer("FETCH-ROOTS", said(0, roots_answer([("Test Root", pki.root_pem)])))
    assert stock_getcert("refresh-ca", "-c", "scripted").returncode == 0
    eventually(lambda: (out / "ca-roots.pem").exists(), what="the CA's root file")
    assert pems_in(out / "ca-roots.pem") == [pki.root_pem]


def test_templates_and_requirements_become_ca_properties(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger,
        helper: ScriptedHelper) -> None:
    helper.answer("GET-SUPPORTED-TEMPLATES", said(0, "caServerCert,caIPAserviceCert\nuser\n"))
    helper.answer("GET-DEFAULT-TEMPLATE", said(0, "caServerCert\n"))
    helper.answer("GET-NEW-REQUEST-REQUIREMENTS",
                  said(0, "CERTMONGER_REQ_SUBJECT\nCERTMONGER_REQ_PRINCIPAL,SOMETHING_ELSE\n"))
    helper.answer("GET-RENEW-REQUEST-REQUIREMENTS", said(0, "CERTMONGER_CA_PROFILE\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert eventually(lambda: cm.ca_property("scripted", "supported-profiles")) == [
        "caServerCert", "caIPAserviceCert", "user"]
    assert cm.ca_property("scripted", "default-profile") == "caServerCert"
    assert cm.ca_property("scripted", "required-enroll-attributes") == [
        "template-subject", "template-principal"]
    assert cm.ca_property("scripted", "required-renew-attributes") == ["template-profile"]
    assert "\tdefault profile/template/certtype: caServerCert\n" in stock_getcert(
        "list-cas", "-c", "scripted").stdout


def test_unsupported_fetch_roots_empties_the_roots_and_keeps_the_rest(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        pki: HelperPKI) -> None:
    helper.answer("FETCH-ROOTS", said(0, roots_answer([("Test Root", pki.root_pem)])))
    helper.answer("GET-SUPPORTED-TEMPLATES", said(0, "caServerCert\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    eventually(lambda: cm.ca_property("scripted", "root-certs"))
    helper.unsupported("FETCH-ROOTS")
    helper.unsupported("GET-SUPPORTED-TEMPLATES")
    assert stock_getcert("refresh-ca", "-c", "scripted").returncode == 0
    eventually(lambda: not cm.ca_property("scripted", "root-certs"), what="no roots")
    # certmonger clears only the certificates (and SCEP data) of an unsupported phase.
    assert cm.ca_property("scripted", "supported-profiles") == ["caServerCert"]


def test_refresh_ca_runs_every_operation_again(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger,
        helper: ScriptedHelper) -> None:
    helper.answer("IDENTIFY", said(0, "Before\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert eventually(lambda: cm.ca_property("scripted", "aka")) == "Before"
    helper.answer("IDENTIFY", said(0, "After\n"))
    assert stock_getcert("refresh-ca", "-c", "scripted").stdout == \
        "Data for CA 'scripted' being refreshed.\n"
    eventually(lambda: cm.ca_property("scripted", "aka") == "After", what="the new aka")
    assert sorted(helper.calls()) == sorted(CA_DATA_OPERATIONS * 2)


def test_modify_ca_changes_the_helper_and_refreshes(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        tmp_path: Path, pki: HelperPKI) -> None:
    helper.answer("IDENTIFY", said(0, "First\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    second = ScriptedHelper(tmp_path / "second", pki)
    second.answer("IDENTIFY", said(0, "Second\n"))
    result = stock_getcert("modify-ca", "-c", "scripted", "-e", second.command)
    assert (result.returncode, result.stdout) == (0, 'CA "scripted" modified.\n')
    assert cm.ca_property("scripted", "external-helper") == second.command
    eventually(lambda: cm.ca_property("scripted", "aka") == "Second", what="the new aka")
    assert f"\thelper-location: {second.command}\n" in stock_getcert(
        "list-cas", "-c", "scripted").stdout


def test_changed_ca_data_retries_the_requests_waiting_on_the_ca(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        tmp_path: Path, pki: HelperPKI, out: Path) -> None:
    helper.answer("IDENTIFY", said(0, "Misconfigured\n"))
    helper.answer("SUBMIT", said(4, "No credentials.\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "stuck", "scripted").returncode == 4
    fixed = ScriptedHelper(tmp_path / "fixed", pki)
    fixed.answer("IDENTIFY", said(0, "Configured\n"))
    fixed.answer("SUBMIT", issued())
    assert stock_getcert("modify-ca", "-c", "scripted", "-e", fixed.command).returncode == 0
    cm.wait_state("stuck", "MONITORING")


def test_unchanged_ca_data_or_new_roots_leave_the_waiting_requests_alone(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        tmp_path: Path, pki: HelperPKI, out: Path) -> None:
    helper.answer("IDENTIFY", said(0, "Same\n"))
    helper.answer("SUBMIT", said(4, "No credentials.\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "stuck", "scripted").returncode == 4
    fixed = ScriptedHelper(tmp_path / "fixed", pki)
    fixed.answer("IDENTIFY", said(0, "Same\n"))
    fixed.answer("FETCH-ROOTS", said(0, roots_answer([("Test Root", pki.root_pem)])))
    fixed.answer("SUBMIT", issued())
    assert stock_getcert("modify-ca", "-c", "scripted", "-e", fixed.command).returncode == 0
    # certmonger saves new roots but restarts no request for them.
    eventually(lambda: cm.ca_property("scripted", "root-certs"), what="the new roots")
    assert cm.status("stuck") == ("CA_UNCONFIGURED", True)
    assert fixed.calls("SUBMIT") == []


def test_unreachable_ca_data_sets_the_ca_error_until_the_ca_answers(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger,
        helper: ScriptedHelper) -> None:
    helper.answer("IDENTIFY", said(3, "Cannot reach the CA.\n"), said(0, "Back\n"))
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert eventually(lambda: cm.ca_property("scripted", "ca-error")) == "Cannot reach the CA."
    assert stock_getcert("refresh-ca", "-c", "scripted").returncode == 0
    eventually(lambda: cm.ca_property("scripted", "aka") == "Back", what="the new aka")
    assert cm.ca_property("scripted", "ca-error") is None


def test_remove_ca_leaves_its_request_without_a_ca(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, helper: ScriptedHelper,
        out: Path) -> None:
    helper.answer("SUBMIT", issued())
    add_ca(stock_getcert, "scripted", helper.command, helper)
    assert request(stock_getcert, out, "orphan", "scripted").returncode == 0
    result = stock_getcert("remove-ca", "-c", "scripted")
    assert (result.returncode, result.stdout) == (0, 'CA "scripted" removed.\n')
    text = listing(stock_getcert, "orphan")
    assert "\tstatus: MONITORING\n" in text
    assert "\tCA:" not in text
    records = [p.read_text() for p in daemon.dirs.requests.iterdir()]
    assert any("\nca_name=scripted\n" in record for record in records)
    result = stock_getcert("resubmit", "-i", "orphan")
    assert result.stdout == 'Resubmitting "orphan".\n'
    cm.wait_state("orphan", "NEED_CA")
    assert cm.status("orphan") == ("NEED_CA", True)


# -- Dogtag renewal agents (FreeIPA's system certificates) ---------------------------------

needs_nss_tools = pytest.mark.skipif(shutil.which("certutil") is None,
                                     reason="NSS tools are not installed")


def nss_database_with_a_certificate(directory: Path, nickname: str, pin: str) -> None:
    directory.mkdir()
    (directory / "pin").write_text(pin + "\n")
    (directory / "noise").write_bytes(bytes(range(64)))
    for argv in (["certutil", "-N", "-d", f"sql:{directory}", "-f", str(directory / "pin")],
                 ["certutil", "-S", "-x", "-n", nickname, "-s", "CN=CA Audit,O=EXAMPLE.TEST",
                  "-t", "u,u,u", "-v", "24", "-d", f"sql:{directory}",
                  "-f", str(directory / "pin"), "-z", str(directory / "noise")]):
        subprocess.run(argv, check=True, capture_output=True)


def nss_certificate(directory: Path, nickname: str) -> bytes:
    return subprocess.run(["certutil", "-L", "-d", f"sql:{directory}", "-n", nickname, "-a"],
                          check=True, capture_output=True).stdout


@needs_nss_tools
def test_dogtag_ca_renew_agent_tracks_an_nss_certificate_and_runs_its_helper_to_renew(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, tmp_path: Path) -> None:
    db, nickname = tmp_path / "alias", "auditSigningCert cert-pki-ca"
    nss_database_with_a_certificate(db, nickname, "Secret123")
    before = nss_certificate(db, nickname)
    port = closed_port()
    add_ca(stock_getcert, "dogtag-ipa-ca-renew-agent",
           f"{STOCK_HELPERS}/dogtag-ipa-renew-agent-submit -E http://127.0.0.1:{port}/ca/ee/ca"
           f" -A https://127.0.0.1:{port}/ca/agent/ca -d {db} -n ipaCert")
    presave, postsave = tmp_path / "stopped", tmp_path / "renewed"
    result = stock_getcert("start-tracking", "-w", "-d", str(db), "-n", nickname,
                           "-c", "dogtag-ipa-ca-renew-agent", "-P", "Secret123",
                           "-B", f"/usr/bin/touch {presave}",
                           "-C", f"/usr/bin/touch {postsave} {nickname!r}",
                           "-T", "caSignedLogCert", "-I", "audit")
    assert (result.returncode, result.stdout) == (0, 'New tracking request "audit" added.\n')
    text = listing(stock_getcert, "audit")
    assert "\tstatus: MONITORING\n" in text
    assert (f"\tkey pair storage: type=NSSDB,location='{db}',nickname='{nickname}',"
            "token='NSS Certificate DB',pin set\n") in text
    assert "\tCA: dogtag-ipa-ca-renew-agent\n" in text
    assert f"\tpre-save command: /usr/bin/touch {presave}\n" in text

    result = stock_getcert("resubmit", "-w", "-i", "audit")
    assert result.returncode == 3, result.stdout
    assert cm.status("audit") == ("CA_UNREACHABLE", False)
    assert cm.request_property("audit", "ca-error").startswith(
        f"Error 7 connecting to http://127.0.0.1:{port}/ca/ee/ca/profileSubmit")
    assert not presave.exists() and not postsave.exists()
    assert nss_certificate(db, nickname) == before


def test_dogtag_renew_agent_file_tracking_keeps_monitoring_when_its_helper_is_unconfigured(
        daemon: Daemon, stock_getcert: Getcert, cm: Certmonger, tmp_path: Path,
        out: Path) -> None:
    crt, key = out / "ra-agent.pem", out / "ra-agent.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-subj", "/O=EXAMPLE.TEST/CN=IPA RA",
                    "-days", "30"], check=True, capture_output=True)
    before = crt.read_text()
    presave = tmp_path / "presave-ran"
    result = stock_getcert("start-tracking", "-w", "-c", "dogtag-ipa-renew-agent",
                           "-f", str(crt), "-k", str(key), "-B", f"/usr/bin/touch {presave}",
                           "-C", "/bin/true", "-I", "ra")
    assert (result.returncode, result.stdout) == (0, 'New tracking request "ra" added.\n')
    assert "\tCA: dogtag-ipa-renew-agent\n" in listing(stock_getcert, "ra")
    # Without /etc/ipa the built-in CA's helper has no server and no agent credentials:
    # it exits 4, and a request that holds a certificate goes back to MONITORING.
    assert stock_getcert("resubmit", "-w", "-i", "ra").returncode == 0
    assert cm.status("ra") == ("MONITORING", False)
    assert cm.request_property("ra", "ca-error") == (
        "NSS database and nickname or certfile and keyfile  must be provided.")
    assert not presave.exists()
    assert crt.read_text() == before
