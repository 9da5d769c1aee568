"""A host switching from certmonger to pycertmonger and back keeps all its requests.

The stock daemon builds a varied state with the stock getcert: FILE requests from
SelfSign and the local CA (RSA and EC), one with a CA file and pre-/post-save commands,
one in an NSS database, one without auto-renewal, requests stuck on a CA that rejects
and on one that is unreachable, and a user-added CA that issues. Then our daemon starts
on those same directories, lists the same requests with the same fields, signs new
requests with the same local CA and renews stock-made requests with their stock-written
keys. Last, the stock daemon starts again on what our daemon wrote, loads it all and
renews requests our daemon made, with the keys our daemon wrote.

The three phases run once for the module (`history`); each test checks one thing that
was seen along the way.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from tests.support.bus import Daemon, Getcert, PrivateBus, StateDirs, have_stock
from tests.support.scripted_helper import HelperPKI, ScriptedHelper, issued

pytestmark = [
    pytest.mark.stock,
    pytest.mark.slow,
    pytest.mark.skipif(not have_stock(), reason="Debian's certmonger is not installed"),
]

# Requests the stock daemon makes: nickname -> `getcert request` arguments besides -w -I.
# {out} is the directory of certificate files, {db} the NSS database, {hook} a script.
STOCK_REQUESTS: dict[str, list[str]] = {
    "ss-rsa": ["-c", "SelfSign", "-f", "{out}/ss-rsa.crt", "-k", "{out}/ss-rsa.key",
               "-N", "CN=ss-rsa.example.test,O=Test", "-D", "ss-rsa.example.test"],
    "loc-rsa": ["-c", "local", "-f", "{out}/loc-rsa.crt", "-k", "{out}/loc-rsa.key",
                "-N", "CN=loc-rsa.example.test", "-D", "loc-rsa.example.test",
                "-K", "host/loc-rsa.example.test@EXAMPLE.TEST", "-E", "loc@example.test",
                "-A", "192.0.2.7", "-u", "digitalSignature", "-U", "id-kp-serverAuth",
                "-T", "caServerCert", "-g", "3072"],
    "loc-ec": ["-c", "local", "-f", "{out}/loc-ec.crt", "-k", "{out}/loc-ec.key",
               "-N", "CN=loc-ec.example.test", "-G", "EC", "-g", "384"],
    "loc-hooks": ["-c", "local", "-f", "{out}/loc-hooks.crt", "-k", "{out}/loc-hooks.key",
                  "-N", "CN=loc-hooks.example.test", "-F", "{out}/local-ca.pem",
                  "-B", "{hook} pre", "-C", "{hook} post"],
    "nss": ["-c", "local", "-d", "sql:{db}", "-n", "Server-Cert",
            "-N", "CN=nss.example.test,O=Test", "-D", "nss.example.test"],
    "no-renew": ["-c", "SelfSign", "-f", "{out}/no-renew.crt", "-k", "{out}/no-renew.key",
                 "-N", "CN=no-renew.example.test", "-R"],
    "custom": ["-c", "Custom", "-f", "{out}/custom.crt", "-k", "{out}/custom.key",
               "-N", "CN=custom.example.test", "-D", "custom.example.test"],
    "rejected": ["-c", "Refuser", "-f", "{out}/rejected.crt", "-k", "{out}/rejected.key",
                 "-N", "CN=rejected.example.test"],
    "unreachable": ["-c", "Offline", "-f", "{out}/unreachable.crt",
                    "-k", "{out}/unreachable.key", "-N", "CN=unreachable.example.test"],
}
# Requests our daemon adds.
OUR_REQUESTS: dict[str, list[str]] = {
    "ours-loc": ["-c", "local", "-f", "{out}/ours-loc.crt", "-k", "{out}/ours-loc.key",
                 "-N", "CN=ours-loc.example.test", "-D", "ours-loc.example.test"],
    "ours-nss": ["-c", "local", "-d", "sql:{db}", "-n", "Ours-Cert",
                 "-N", "CN=ours-nss.example.test,O=Test", "-G", "EC"],
    "ours-ss": ["-c", "SelfSign", "-f", "{out}/ours-ss.crt", "-k", "{out}/ours-ss.key",
                "-N", "CN=ours-ss.example.test"],
    "ours-custom": ["-c", "Custom", "-f", "{out}/ours-custom.crt",
                    "-k", "{out}/ours-custom.key", "-N", "CN=ours-custom.example.test"],
}
# Stock-made requests our daemon renews, and ours-made ones the stock daemon renews.
OURS_RESUBMITS = ("loc-rsa", "loc-ec", "loc-hooks", "nss", "custom")
STOCK_RESUBMITS = ("ours-loc", "ours-nss", "nss")
# Where every request of this scenario comes to rest.
RESTING = {"MONITORING", "CA_REJECTED", "CA_UNREACHABLE"}

HOOK = """#!/bin/sh
echo "$1" >> "$(dirname "$0")/hook.log"
"""
# A CA helper that answers every submission with one message and exit status (2: the
# CA rejected it, 3: the CA is unreachable) and supports nothing else.
STUCK_HELPER = """#!/bin/sh
case "$CERTMONGER_OPERATION" in
  SUBMIT|POLL) echo "{message}"; exit {status};;
  *) exit 6;;
esac
"""

BUS_NAME = "org.fedorahosted.certmonger"
MANAGER = "/org/fedorahosted/certmonger"
REQUEST_IFACE = "org.fedorahosted.certmonger.request"
CA_IFACE = "org.fedorahosted.certmonger.ca"
PROPERTIES = "org.freedesktop.DBus.Properties"


@dataclass
class Listing:
    """`getcert list` output, split into its request blocks."""

    text: str
    blocks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Listing:
        parts = re.split(r"^Request ID '([^']*)':\n", text, flags=re.MULTILINE)
        return cls(text, {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)})

    def field(self, nickname: str, name: str) -> str:
        """The value of one `name: value` line of a request's block."""
        match = re.search(rf"^\t{re.escape(name)}: (.*)$", self.blocks[nickname],
                          flags=re.MULTILINE)
        assert match, f"no {name!r} for {nickname}:\n{self.blocks[nickname]}"
        return match.group(1)

    def statuses(self) -> dict[str, str]:
        return {nickname: self.field(nickname, "status") for nickname in self.blocks}


@dataclass
class Phase:
    """What the stock getcert and D-Bus showed of one daemon once it had settled."""

    listing: Listing
    cas: str
    properties: dict[str, dict[str, dict[str, Any]]]
    log: str = ""


@dataclass
class History:
    """The three phases, what was done in them, and the files involved."""

    root: Path
    out: Path
    db: Path
    hook_log: Path
    stock: Phase | None = None
    stock_files: dict[str, bytes] = field(default_factory=dict)
    stock_nss: dict[str, bytes] = field(default_factory=dict)
    stock_records: dict[str, str] = field(default_factory=dict)
    ours_first: Phase | None = None
    ours_added: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    ours_resubmitted: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    ours_last: Phase | None = None
    ours_files: dict[str, bytes] = field(default_factory=dict)
    ours_nss: dict[str, bytes] = field(default_factory=dict)
    ours_records: dict[str, str] = field(default_factory=dict)
    stock_again: Phase | None = None
    stock_again_files: dict[str, bytes] = field(default_factory=dict)
    stock_resubmitted: dict[str, subprocess.CompletedProcess[str]] = field(
        default_factory=dict)
    stock_final: Listing | None = None
    stock_final_nss: dict[str, bytes] = field(default_factory=dict)

    def record_of(self, records: dict[str, str], nickname: str) -> str:
        """The record file text of the request `nickname`."""
        found = [text for text in records.values() if f"\nid={nickname}\n" in f"\n{text}"]
        assert len(found) == 1, nickname
        return found[0]


# --- running the daemons -------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, Variant):
        return _plain(value.value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _properties(bus: PrivateBus) -> dict[str, dict[str, dict[str, Any]]]:
    """`GetAll` of every request and CA: {"requests"|"cas": {nickname: properties}}."""
    async def call(client: MessageBus, path: str, iface: str, member: str,
                   signature: str = "", body: list[Any] | None = None) -> list[Any]:
        reply = await asyncio.wait_for(client.call(Message(
            destination=BUS_NAME, path=path, interface=iface, member=member,
            signature=signature, body=body or [])), 10)
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
        return list(reply.body)

    async def go() -> dict[str, dict[str, dict[str, Any]]]:
        client = await MessageBus(bus_address=bus.address).connect()
        try:
            out: dict[str, dict[str, dict[str, Any]]] = {"requests": {}, "cas": {}}
            for kind, iface, lister in (("requests", REQUEST_IFACE, "get_requests"),
                                        ("cas", CA_IFACE, "get_known_cas")):
                (paths,) = await call(client, MANAGER, BUS_NAME, lister)
                for path in paths:
                    (props,) = await call(client, path, PROPERTIES, "GetAll", "s", [iface])
                    plain = _plain(props)
                    out[kind][plain["nickname"]] = plain
            return out
        finally:
            client.disconnect()
    return asyncio.run(go())


def _listing(getcert: Getcert) -> Listing:
    result = getcert("list")
    assert result.returncode == 0, result.stdout + result.stderr
    return Listing.parse(result.stdout)


def _settled(getcert: Getcert, bus: PrivateBus, timeout: float = 20) -> Phase:
    """The daemon's view once every request rests (a daemon retries some at start)."""
    deadline = time.monotonic() + timeout
    listing = _listing(getcert)
    while not set(listing.statuses().values()) <= RESTING and time.monotonic() < deadline:
        time.sleep(0.1)
        listing = _listing(getcert)
    cas = getcert("list-cas")
    assert cas.returncode == 0, cas.stdout + cas.stderr
    return Phase(listing, cas.stdout, _properties(bus))


def _nss_certificates(db: Path) -> dict[str, bytes]:
    """The DER of each certificate in the NSS database, by nickname."""
    names = subprocess.run(["certutil", "-L", "-d", f"sql:{db}"], check=True,
                           capture_output=True, text=True).stdout
    out = {}
    for nickname in ("Server-Cert", "Ours-Cert"):
        if re.search(rf"^{nickname}\s", names, flags=re.MULTILINE):
            out[nickname] = subprocess.run(
                ["certutil", "-L", "-d", f"sql:{db}", "-n", nickname, "-r"],
                check=True, capture_output=True).stdout
    return out


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def _records(dirs: StateDirs) -> dict[str, str]:
    return {p.name: p.read_text() for p in dirs.requests.iterdir()}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """Stock daemon, then ours, then stock again, all on one set of state directories."""
    root = tmp_path_factory.mktemp("existing")
    h = History(root, root / "out", root / "db", root / "hooks" / "hook.log")
    h.out.mkdir()
    h.db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{h.db}", "--empty-password"], check=True,
                   capture_output=True)
    hook = root / "hooks" / "hook.sh"
    hook.parent.mkdir()
    hook.write_text(HOOK)
    hook.chmod(0o755)
    custom = ScriptedHelper(root / "helpers" / "Custom", HelperPKI.create())
    custom.answer("SUBMIT", issued())
    helpers = {"Custom": custom.command}
    for name, status, message in (("Refuser", 2, "Refused for testing"),
                                  ("Offline", 3, "Offline for testing")):
        program = root / "helpers" / f"{name}.sh"
        program.write_text(STUCK_HELPER.format(status=status, message=message))
        program.chmod(0o755)
        helpers[name] = str(program)

    bus = PrivateBus(root / "bus").start()
    dirs = StateDirs(root / "state")
    getcert = Getcert(bus, stock=True)

    def request(nickname: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        words = [a.format(out=h.out, db=h.db, hook=hook) for a in args]
        return getcert("request", "-w", "-I", nickname, *words)

    running: list[Daemon] = []
    try:
        # Phase 1: the stock daemon makes the state.
        stock = Daemon(bus, dirs, stock=True)
        running.append(stock.start())
        for name, command in helpers.items():
            added = getcert("add-ca", "-c", name, "-e", command)
            assert added.returncode == 0, added.stdout + added.stderr
        for nickname, args in STOCK_REQUESTS.items():
            request(nickname, args)
        h.stock = _settled(getcert, bus)
        stock.stop()
        h.stock_files, h.stock_nss = _files(h.out), _nss_certificates(h.db)
        h.stock_records = _records(dirs)

        # Phase 2: our daemon on the same directories.
        ours = Daemon(bus, dirs)
        running.append(ours.start())
        h.ours_first = _settled(getcert, bus)
        for nickname, args in OUR_REQUESTS.items():
            h.ours_added[nickname] = request(nickname, args)
        for nickname in OURS_RESUBMITS:
            h.ours_resubmitted[nickname] = getcert("resubmit", "-w", "-i", nickname)
        h.ours_last = _settled(getcert, bus)
        ours.stop()
        h.ours_last.log = ours.log.read_text(errors="replace")
        h.ours_files, h.ours_nss = _files(h.out), _nss_certificates(h.db)
        h.ours_records = _records(dirs)

        # Phase 3: the stock daemon on what ours wrote, with its debug log.
        again = Daemon(bus, dirs, stock=True, extra_args=["-d", "1"])
        again.log = dirs.root / "stock-again.log"
        running.append(again.start())
        h.stock_again = _settled(getcert, bus)
        h.stock_again.log = again.log.read_text(errors="replace")
        h.stock_again_files = _files(h.out)
        for nickname in STOCK_RESUBMITS:
            h.stock_resubmitted[nickname] = getcert("resubmit", "-w", "-i", nickname)
        h.stock_final = _listing(getcert)
        h.stock_final_nss = _nss_certificates(h.db)
        yield h
    finally:
        for daemon in running:
            daemon.stop()
        bus.stop()


# --- helpers for the checks ----------------------------------------------------------------

def _cert(pem_or_der: bytes) -> x509.Certificate:
    if pem_or_der.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(pem_or_der)
    return x509.load_der_x509_certificate(pem_or_der)


def _public_key(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def _signed_by(leaf: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


_CA_PATH = re.compile(r"^/org/fedorahosted/certmonger/(requests|cas)/(CA\d+)$")


def _why_different(kind: str, nickname: str, name: str, stock: Any, ours: Any) -> str | None:
    """The docs/compat.md entry explaining a GetAll difference, or None if none does."""
    if kind == "requests":
        if name == "ca":
            s, o = _CA_PATH.match(stock or ""), _CA_PATH.match(ours or "")
            if s and o and (s[1], o[1], s[2]) == ("requests", "cas", o[2]):
                return "D-Bus 6: the request property `ca` holds the CA's real path"
        if name == "last-checked":
            return "D-Bus 11: `last-checked` and `get_cert_last_checked()` agree"
        if name in {"email", "hostname", "principal"} and (stock, ours) == ([], None):
            return "D-Bus 13: unset versus empty"
        if name == "cert" and stock and ours and _cert(stock.encode()) == _cert(ours.encode()):
            return "D-Bus 19: the certificate is given as it was saved"
        if name == "submitted-date" and nickname == "unreachable":
            return "both daemons submit to an unreachable CA again when they start"
    if kind == "cas" and name == "ca-error":
        if nickname in {"IPA", "dogtag-ipa-renew-agent"} and stock is None and ours:
            return "Engine: a CA's `ca-error` says why its data could not be had"
        if nickname == "local" and {stock, ours} == {"", None}:
            return "D-Bus 13: unset versus empty"
    return None


def _unexplained(stock: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    problems = []
    for kind in ("requests", "cas"):
        for nickname in sorted(set(stock[kind]) | set(ours[kind])):
            if nickname not in stock[kind] or nickname not in ours[kind]:
                problems.append(f"{kind} {nickname}: only one daemon has it")
                continue
            s, o = stock[kind][nickname], ours[kind][nickname]
            for name in sorted(set(s) | set(o)):
                if s.get(name) != o.get(name) and not _why_different(
                        kind, nickname, name, s.get(name), o.get(name)):
                    problems.append(f"{kind} {nickname}.{name}: stock {s.get(name)!r}, "
                                    f"ours {o.get(name)!r}")
    return problems


# --- phase 2: our daemon on the stock daemon's state ---------------------------------------

def test_the_stock_state_has_every_kind_of_request(history: History) -> None:
    assert history.stock is not None
    statuses = history.stock.listing.statuses()
    assert statuses == {**{n: "MONITORING" for n in STOCK_REQUESTS},
                        "rejected": "CA_REJECTED", "unreachable": "CA_UNREACHABLE"}


def test_our_daemon_lists_the_stock_requests_exactly_as_stock_did(history: History) -> None:
    assert history.stock is not None and history.ours_first is not None
    assert history.ours_first.listing.text == history.stock.listing.text


def test_our_daemon_lists_the_stock_cas_exactly_as_stock_did(history: History) -> None:
    assert history.stock is not None and history.ours_first is not None
    assert history.ours_first.cas == history.stock.cas


def test_our_daemon_shows_the_stock_requests_over_dbus_as_stock_did(history: History) -> None:
    assert history.stock is not None and history.ours_first is not None
    assert not _unexplained(history.stock.properties, history.ours_first.properties)


def test_stuck_requests_stay_stuck_with_their_reasons(history: History) -> None:
    assert history.ours_last is not None
    listing = history.ours_last.listing
    assert (listing.field("rejected", "status"), listing.field("rejected", "ca-error"),
            listing.field("rejected", "stuck")) == ("CA_REJECTED", "Refused for testing", "yes")
    assert (listing.field("unreachable", "status"),
            listing.field("unreachable", "ca-error")) == ("CA_UNREACHABLE",
                                                          "Offline for testing")


def test_a_request_without_auto_renewal_keeps_it_off(history: History) -> None:
    assert history.ours_last is not None
    assert history.ours_last.listing.field("no-renew", "auto-renew") == "no"


def test_our_new_requests_reach_monitoring(history: History) -> None:
    for nickname, result in history.ours_added.items():
        assert result.returncode == 0, (nickname, result.stdout, result.stderr)
    assert history.ours_last is not None
    statuses = history.ours_last.listing.statuses()
    assert all(statuses[n] == "MONITORING" for n in OUR_REQUESTS), statuses


def test_new_local_ca_requests_are_signed_by_the_stock_local_ca(history: History) -> None:
    stock_ca = _cert(history.stock_files["local-ca.pem"])
    assert _signed_by(_cert(history.ours_files["ours-loc.crt"]), stock_ca)
    assert _signed_by(_cert(history.ours_nss["Ours-Cert"]), stock_ca)
    assert history.stock is not None and history.ours_last is not None
    stock_issuer = history.stock.listing.field("loc-rsa", "issuer")
    assert history.ours_last.listing.field("ours-loc", "issuer") == stock_issuer


def test_new_selfsigned_requests_continue_the_stock_serial_numbers(history: History) -> None:
    assert history.stock is not None and history.ours_last is not None
    assert "\tnext-serial-number: 03\n" in history.stock.cas
    assert _cert(history.ours_files["ours-ss.crt"]).serial_number == 3
    assert "\tnext-serial-number: 04\n" in history.ours_last.cas


def test_an_nssdb_request_of_ours_keeps_the_subject_in_ldap_order(history: History) -> None:
    assert history.ours_last is not None
    assert history.ours_last.listing.field("ours-nss", "subject") == \
        "CN=ours-nss.example.test,O=Test"


@pytest.mark.parametrize("nickname", OURS_RESUBMITS)
def test_a_stock_request_is_renewed_by_our_daemon(history: History, nickname: str) -> None:
    result = history.ours_resubmitted[nickname]
    assert result.returncode == 0, result.stdout + result.stderr
    assert history.ours_last is not None
    assert history.ours_last.listing.field(nickname, "status") == "MONITORING"


@pytest.mark.parametrize("nickname", ["loc-rsa", "loc-ec", "loc-hooks", "custom"])
def test_renewal_keeps_the_stock_written_key_file(history: History, nickname: str) -> None:
    before = _cert(history.stock_files[f"{nickname}.crt"])
    after = _cert(history.ours_files[f"{nickname}.crt"])
    assert after.serial_number != before.serial_number
    assert _public_key(after) == _public_key(before)
    assert history.ours_files[f"{nickname}.key"] == history.stock_files[f"{nickname}.key"]


def test_renewal_in_the_nss_database_keeps_the_stock_key(history: History) -> None:
    before = _cert(history.stock_nss["Server-Cert"])
    after = _cert(history.ours_nss["Server-Cert"])
    assert after.serial_number != before.serial_number
    assert _public_key(after) == _public_key(before)


def test_stock_pre_and_post_save_commands_run_for_our_renewal(history: History) -> None:
    # Once when the stock daemon saved the first certificate, once for ours.
    assert history.hook_log.read_text() == "pre\npost\npre\npost\n"


def test_the_ca_file_stays_the_local_ca_certificate(history: History) -> None:
    assert _cert(history.ours_files["local-ca.pem"]) == _cert(history.stock_files["local-ca.pem"])


def test_records_our_daemon_only_loaded_keep_every_stock_line(history: History) -> None:
    for nickname in ("ss-rsa", "no-renew", "rejected"):
        stock = history.record_of(history.stock_records, nickname).splitlines()
        ours = history.record_of(history.ours_records, nickname).splitlines()
        added = [line for line in ours if line not in stock]
        dropped = [line for line in stock if line not in ours]
        assert not dropped, nickname
        assert all(line.startswith("pycm_") for line in added), added


def test_our_daemon_logs_no_error(history: History) -> None:
    assert history.ours_last is not None
    assert not re.search(r"Traceback|ERROR|rror|arning", history.ours_last.log), \
        history.ours_last.log


# --- phase 3: the stock daemon on the state our daemon wrote -------------------------------

def test_stock_lists_every_request_exactly_as_our_daemon_did(history: History) -> None:
    assert history.ours_last is not None and history.stock_again is not None
    assert history.stock_again.listing.text == history.ours_last.listing.text


def test_stock_lists_the_cas_exactly_as_our_daemon_did(history: History) -> None:
    assert history.ours_last is not None and history.stock_again is not None
    assert history.stock_again.cas == history.ours_last.cas


def test_stock_shows_our_requests_over_dbus_as_our_daemon_did(history: History) -> None:
    assert history.ours_last is not None and history.stock_again is not None
    assert not _unexplained(history.stock_again.properties, history.ours_last.properties)


def test_stock_reissues_nothing_when_it_loads_our_state(history: History) -> None:
    assert history.stock_again_files == history.ours_files


def test_stock_logs_no_error_while_loading_our_state(history: History) -> None:
    assert history.stock_again is not None
    problems = [line for line in history.stock_again.log.splitlines()
                if re.search(r"rror|arning|nvalid|ailed|nable to", line)]
    assert not problems


@pytest.mark.parametrize("nickname", STOCK_RESUBMITS)
def test_stock_renews_requests_with_keys_our_daemon_handled(history: History,
                                                            nickname: str) -> None:
    result = history.stock_resubmitted[nickname]
    assert result.returncode == 0, result.stdout + result.stderr
    assert history.stock_final is not None
    assert history.stock_final.field(nickname, "status") == "MONITORING"


def test_stock_renews_into_the_nss_database_with_the_same_keys(history: History) -> None:
    for nickname in ("Server-Cert", "Ours-Cert"):
        before = _cert(history.ours_nss[nickname])
        after = _cert(history.stock_final_nss[nickname])
        assert after.serial_number != before.serial_number, nickname
        assert _public_key(after) == _public_key(before), nickname
