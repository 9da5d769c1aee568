"""Our D-Bus service on a private bus, driven by the stock getcert and by raw D-Bus calls.

The engine behind the service is a fake holding the records captured from the stock
daemon, so what is tested here is only the D-Bus layer: names, paths, reply shapes, error
names and bodies, and signals.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from pycertmonger.bus.service import NameTakenError, start
from pycertmonger.model import Request, State
from tests.conftest import requires_stock
from tests.support.bus import REPO, Daemon, Getcert, PrivateBus, StateDirs
from tests.support.fake_engine import STOCK_DIR, FakeEngine, stock_cas, stock_requests
from tests.support.service_thread import ServiceThread

BASE = "/org/fedorahosted/certmonger"
NAME = "org.fedorahosted.certmonger"
MANAGER = "org.fedorahosted.certmonger"
REQUEST = "org.fedorahosted.certmonger.request"
PROPERTIES = "org.freedesktop.DBus.Properties"


def by_file_name(items: list[Any]) -> list[Any]:
    """Records in the order the stock daemon loads them: by file name."""
    return sorted(items, key=lambda item: item.store_name)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(cas=by_file_name(stock_cas()), requests=by_file_name(stock_requests()))


@pytest.fixture
def service(bus: PrivateBus, engine: FakeEngine) -> Iterator[ServiceThread]:
    thread = ServiceThread(engine, bus.address).start()
    yield thread
    thread.stop()


def getcert(bus: PrivateBus, *args: str) -> tuple[int, str]:
    done = Getcert(bus, stock=True)(*args, env={"TZ": "UTC"}, timeout=30)
    return done.returncode, done.stdout + done.stderr


def dbus(bus: PrivateBus, path: str, interface: str | None, member: str,
         signature: str = "", *args: Any) -> Message:
    """One raw call; the reply message as it came."""
    async def go() -> Message:
        client = await MessageBus(bus_address=bus.address).connect()
        try:
            reply = await asyncio.wait_for(client.call(Message(
                destination=NAME, path=path, interface=interface, member=member,
                signature=signature, body=list(args))), 10)
            assert reply is not None
            return reply
        finally:
            client.disconnect()
    return asyncio.run(go())


def signals(bus: PrivateBus, trigger: Callable[[], None], wanted: int = 1) -> list[Message]:
    """The signals our service sends while `trigger()` runs."""
    async def go() -> list[Message]:
        client = await MessageBus(bus_address=bus.address).connect()
        got: list[Message] = []
        enough = asyncio.Event()

        def collect(msg: Message) -> None:
            if msg.message_type is MessageType.SIGNAL and (msg.path or "").startswith(BASE):
                got.append(msg)
                if len(got) >= wanted:
                    enough.set()
        client.add_message_handler(collect)
        await client.call(Message(destination="org.freedesktop.DBus",
                                  path="/org/freedesktop/DBus",
                                  interface="org.freedesktop.DBus", member="AddMatch",
                                  signature="s", body=[f"type='signal',path_namespace='{BASE}'"]))
        trigger()
        try:
            await asyncio.wait_for(enough.wait(), 10)
        finally:
            client.disconnect()
        return got
    return asyncio.run(go())


def request_path(engine: FakeEngine, service: ServiceThread, nickname: str) -> str:
    found = engine.request_by_nickname(nickname)
    assert found is not None and service.service is not None
    return service.service.registry.request_path(found)


# -- the stock getcert ------------------------------------------------------------------------


@requires_stock
def test_getcert_list_shows_every_request(bus: PrivateBus, service: ServiceThread) -> None:
    rc, out = getcert(bus, "list")
    assert rc == 0
    assert out.startswith("Number of certificates and requests being tracked: 3.\n"
                          "Request ID 'loc1':\n\tstatus: MONITORING\n\tstuck: no\n")
    assert "\tkey pair storage: type=NSSDB,location='sql:/etc/pki/example/nssdb'," \
           "nickname='srv-cert',token='NSS Certificate DB'\n" in out
    assert "\tpost-save command: /bin/true post\n" in out
    assert getcert(bus, "list", "-v") == (rc, out)


@requires_stock
def test_getcert_status_reads_the_state(bus: PrivateBus, engine: FakeEngine,
                                        service: ServiceThread) -> None:
    assert getcert(bus, "status", "-v", "-i", "ss1") == (0, "State MONITORING, stuck: no.\n")
    loc1 = engine.request_by_nickname("loc1")
    service.run(engine.set_state, loc1, State.CA_UNREACHABLE, ca_error="down for testing")
    assert getcert(bus, "status", "-i", "loc1")[0] == 3
    _rc, out = getcert(bus, "list", "-i", "loc1")
    assert "\tstatus: CA_UNREACHABLE\n\tca-error: down for testing\n\tstuck: no\n" in out


@requires_stock
def test_getcert_request_adds_a_request_owned_by_the_caller(
        bus: PrivateBus, engine: FakeEngine, service: ServiceThread, tmp_path: Path) -> None:
    rc, out = getcert(bus, "request", "-f", str(tmp_path / "n.crt"), "-k",
                      str(tmp_path / "n.key"), "-c", "SelfSign", "-I", "new1",
                      "-N", "CN=new1", "-B", "/bin/true before")
    assert (rc, out) == (0, 'New signing request "new1" added.\n')
    new = service.run(engine.request_by_nickname, "new1")
    assert new is not None
    assert (new.ca_name, new.template_subject) == ("SelfSign", "CN=new1")
    assert (new.pre_certsave_command, new.pre_certsave_uid) == ("/bin/true before", "0")


@requires_stock
def test_getcert_reports_a_duplicate_nickname(bus: PrivateBus, service: ServiceThread,
                                              tmp_path: Path) -> None:
    rc, out = getcert(bus, "request", "-v", "-f", str(tmp_path / "d.crt"), "-I", "SS1")
    assert rc == 1
    assert out == ('There is already a request with the nickname "ss1".\n'
                   "Error org.fedorahosted.certmonger.duplicate: There is already a request "
                   'with the nickname "ss1".\n')


@requires_stock
def test_getcert_resubmit_and_stop_tracking(bus: PrivateBus, engine: FakeEngine,
                                            service: ServiceThread) -> None:
    assert getcert(bus, "resubmit", "-i", "ss1") == (0, 'Resubmitting "ss1" to "SelfSign".\n')
    assert getcert(bus, "stop-tracking", "-i", "loc1") == (0, 'Request "loc1" removed.\n')
    assert service.run(engine.request_by_nickname, "loc1") is None
    assert getcert(bus, "list")[1].startswith(
        "Number of certificates and requests being tracked: 2.\n")


@requires_stock
def test_getcert_list_and_list_cas_match_the_stock_daemon(bus: PrivateBus, dirs: StateDirs,
                                                          engine: FakeEngine) -> None:
    for kind in ("cas", "requests"):
        for record in (STOCK_DIR / kind).iterdir():
            shutil.copy(record, getattr(dirs, kind) / record.name)
    stock = Daemon(bus, dirs, stock=True).start()
    try:
        expected = [getcert(bus, "list"), getcert(bus, "list-cas")]
    finally:
        stock.stop()
    thread = ServiceThread(engine, bus.address).start()
    try:
        assert [getcert(bus, "list"), getcert(bus, "list-cas")] == expected
    finally:
        thread.stop()


# -- reply shapes -----------------------------------------------------------------------------


def test_unset_values_come_back_with_no_body(bus: PrivateBus, engine: FakeEngine,
                                             service: ServiceThread) -> None:
    path = request_path(engine, service, "ss1")
    for reply in (dbus(bus, path, REQUEST, "get_ca_error"),
                  dbus(bus, path, PROPERTIES, "Get", "ss", REQUEST, "template-issuer"),
                  dbus(bus, BASE, MANAGER, "find_request_by_nickname", "s", "nope")):
        assert reply.message_type is MessageType.METHOD_RETURN
        assert (reply.signature, reply.body) == ("", [])


def test_storage_info_has_two_or_four_strings(bus: PrivateBus, engine: FakeEngine,
                                              service: ServiceThread) -> None:
    reply = dbus(bus, request_path(engine, service, "ss1"), REQUEST, "get_cert_storage_info")
    assert (reply.signature, reply.body) == ("ss", ["FILE", "/etc/pki/example/ss1.crt"])
    reply = dbus(bus, request_path(engine, service, "nss1"), REQUEST, "get_key_storage_info")
    assert reply.signature == "ssss"


def test_errors_carry_certmongers_names_and_bodies(bus: PrivateBus, engine: FakeEngine,
                                                   service: ServiceThread,
                                                   tmp_path: Path) -> None:
    reply = dbus(bus, BASE, MANAGER, "remove_request", "o", f"{BASE}/requests/Request99")
    assert (reply.error_name, reply.signature, reply.body) == (
        "org.fedorahosted.certmonger.no_such_entry", "s", ["No matching entry found.\n"])
    reply = dbus(bus, BASE, MANAGER, "add_request", "a{sv}", {"KEY_SIZE": Variant("x", 1)})
    assert (reply.error_name, reply.signature, reply.body) == (
        "org.fedorahosted.certmonger.missing_arg", "ss",
        ["Certificate storage type not specified.", "CERT_STORAGE"])
    ss1 = engine.request_by_nickname("ss1")
    service.run(setattr, ss1, "cert_storage_location", str(tmp_path / "ss1.crt"))
    reply = dbus(bus, BASE, MANAGER, "add_request", "a{sv}", {
        "CERT_STORAGE": Variant("s", "FILE"),
        "CERT_LOCATION": Variant("s", str(tmp_path / "ss1.crt"))})
    assert (reply.error_name, reply.signature, reply.body) == (
        "org.fedorahosted.certmonger.duplicate", "sas",
        ['Certificate at same location is already used by request with nickname "ss1".',
         ["CERT_LOCATION"]])


def test_get_of_an_unknown_property_is_a_request_bad_arg(bus: PrivateBus, engine: FakeEngine,
                                                         service: ServiceThread) -> None:
    reply = dbus(bus, request_path(engine, service, "ss1"), PROPERTIES, "Get", "ss", REQUEST,
                 "bogus")
    assert (reply.error_name, reply.body) == ("org.fedorahosted.certmonger.request.bad_arg",
                                              ["Unrecognized property name.", "bogus"])


def test_calls_certmonger_left_unanswered_get_an_error(bus: PrivateBus, engine: FakeEngine,
                                                       service: ServiceThread) -> None:
    path = request_path(engine, service, "ss1")
    reply = dbus(bus, path, PROPERTIES, "Set", "ssv", REQUEST, "status", Variant("s", "x"))
    assert reply.error_name == "org.fedorahosted.certmonger.request.bad_arg"
    reply = dbus(bus, path, REQUEST, "modify", "s", "x")
    assert reply.error_name == "org.fedorahosted.certmonger.request.bad_arg"


def test_an_unknown_path_gets_unknown_method(bus: PrivateBus, service: ServiceThread) -> None:
    reply = dbus(bus, f"{BASE}/requests/Request99", REQUEST, "get_nickname")
    assert (reply.error_name, reply.body) == (
        "org.freedesktop.DBus.Error.UnknownMethod",
        [('Method "get_nickname" with signature "" on interface '
         '"org.fedorahosted.certmonger.request" doesn\'t exist\n')])


def test_introspection_over_the_bus_matches_the_stock_daemon(bus: PrivateBus,
                                                             service: ServiceThread) -> None:
    reply = dbus(bus, f"{BASE}/requests/Request1", "org.freedesktop.DBus.Introspectable",
                 "Introspect")
    assert reply.body == [(STOCK_DIR / "introspect" / "request.xml").read_text()]


def test_ping_and_machine_id(bus: PrivateBus, service: ServiceThread) -> None:
    assert dbus(bus, "/", "org.freedesktop.DBus.Peer", "Ping").message_type is \
        MessageType.METHOD_RETURN
    assert dbus(bus, BASE, "org.freedesktop.DBus.Peer", "GetMachineId").signature == "s"


def test_the_bulk_read_returns_every_requests_properties(bus: PrivateBus, engine: FakeEngine,
                                                         service: ServiceThread) -> None:
    reply = dbus(bus, BASE, "org.fedorahosted.certmonger.pycertmonger1",
                 "get_all_requests_info")
    assert reply.signature == "a{oa{sv}}"
    info = reply.body[0]
    assert len(info) == 3
    assert info[request_path(engine, service, "nss1")]["cert-nickname"].value == "srv-cert"


# -- signals ----------------------------------------------------------------------------------


def test_a_state_change_is_announced_as_sa_sv(bus: PrivateBus, engine: FakeEngine,
                                              service: ServiceThread) -> None:
    loc1 = engine.request_by_nickname("loc1")
    got = signals(bus, lambda: service.run(engine.set_state, loc1, State.NEED_CSR))
    msg = got[0]
    assert (msg.path, msg.interface, msg.member, msg.signature) == (
        request_path(engine, service, "loc1"), PROPERTIES, "PropertiesChanged", "sa{sv}")
    assert msg.destination is None
    assert msg.body[0] == REQUEST
    assert {k: v.value for k, v in msg.body[1].items()} == {"status": "NEED_CSR"}


def test_unchanged_values_are_not_announced_again(bus: PrivateBus, engine: FakeEngine,
                                                  service: ServiceThread) -> None:
    loc1 = engine.request_by_nickname("loc1")

    def twice() -> None:
        service.run(engine.set_state, loc1, State.CA_WORKING)
        service.run(engine.set_state, loc1, State.CA_WORKING, ca_cookie="c1")
    got = signals(bus, twice, wanted=2)
    assert [set(m.body[1]) for m in got] == [{"status"}, {"ca-cookie"}]


def test_a_saved_certificate_is_announced(bus: PrivateBus, engine: FakeEngine,
                                          service: ServiceThread) -> None:
    ss1 = engine.request_by_nickname("ss1")
    got = signals(bus, lambda: service.run(engine.announce_saved, ss1))
    assert (got[0].interface, got[0].member, got[0].signature) == (REQUEST, "SavedCertificate",
                                                                   "")


def test_a_new_request_is_announced_on_its_new_path(bus: PrivateBus, engine: FakeEngine,
                                                    service: ServiceThread,
                                                    tmp_path: Path) -> None:
    reply = dbus(bus, BASE, MANAGER, "add_request", "a{sv}", {
        "CERT_STORAGE": Variant("s", "FILE"),
        "CERT_LOCATION": Variant("s", str(tmp_path / "x.crt")),
        "NICKNAME": Variant("s", "x")})
    assert reply.body == [True, f"{BASE}/requests/Request4"]
    new = engine.request_by_nickname("x")
    assert isinstance(new, Request)
    got = signals(bus, lambda: service.run(engine.set_state, new, State.NEED_KEY_PAIR))
    assert got[0].path == f"{BASE}/requests/Request4"


# -- the bus name ------------------------------------------------------------------------------


def test_a_second_service_cannot_take_the_name(bus: PrivateBus, service: ServiceThread) -> None:
    async def second() -> None:
        await start(FakeEngine(), address=bus.address)
    with pytest.raises(NameTakenError):
        asyncio.run(second())


def test_a_callers_uid_is_forgotten_when_it_leaves(bus: PrivateBus, engine: FakeEngine,
                                                   service: ServiceThread,
                                                   tmp_path: Path) -> None:
    reply = dbus(bus, BASE, MANAGER, "add_request", "a{sv}", {
        "CERT_STORAGE": Variant("s", "FILE"),
        "CERT_LOCATION": Variant("s", str(tmp_path / "u.crt")),
        "NICKNAME": Variant("s", "u"),
        "cert-postsave-command": Variant("s", "/bin/true")})
    assert reply.message_type is MessageType.METHOD_RETURN
    new = engine.request_by_nickname("u")
    assert new is not None and new.post_certsave_uid == str(os.getuid())
    assert service.service is not None
    deadline = time.monotonic() + 5
    while service.run(len, service.service._uids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.run(len, service.service._uids) == 0


# -- the bus policy ----------------------------------------------------------------------------


@requires_stock
@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to call as another user")
def test_the_policy_lets_only_root_in() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="pycertmonger-policy-"))
    try:
        workdir.chmod(0o755)  # other users must reach the bus socket
        policy = REPO / "data" / "dbus" / "org.fedorahosted.certmonger.conf"
        strict = PrivateBus(workdir / "bus", policy_file=policy).start()
        (workdir / "bus").chmod(0o755)
        thread = ServiceThread(FakeEngine(), strict.address).start()
        try:
            assert getcert(strict, "list")[0] == 0
            as_nobody = subprocess.run(
                ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                 "/usr/bin/getcert", "list"], env=strict.env(), capture_output=True,
                text=True, timeout=30, check=False)
            assert (as_nobody.returncode, as_nobody.stdout) == (
                1, "Insufficient access.  Please retry operation as root.\n")
            bulk = subprocess.run(
                ["dbus-send", "--system", "--print-reply", f"--dest={NAME}", BASE,
                 "org.fedorahosted.certmonger.pycertmonger1.get_all_cas_info"],
                env=strict.env(), capture_output=True, text=True, timeout=30, check=False)
            assert bulk.returncode == 0, bulk.stderr
        finally:
            thread.stop()
            strict.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
