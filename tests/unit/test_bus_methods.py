"""Method calls routed and answered as certmonger 0.79.17 answers them (no bus needed)."""

from __future__ import annotations

from typing import Any

import pytest

from pycertmonger.bus.calls import Call, Context, Reply
from pycertmonger.bus.dispatch import Dispatcher
from pycertmonger.bus.introspect import EMPTY_NODE
from pycertmonger.bus.registry import ObjectRegistry
from pycertmonger.errors import (
    BadArgError,
    CAInternalError,
    DuplicateError,
    NoSuchEntryError,
    RequestBadArgError,
    UnknownMethodError,
)
from pycertmonger.model import Request, State
from tests.support.fake_engine import FakeEngine

BASE = "/org/fedorahosted/certmonger"
MANAGER = "org.fedorahosted.certmonger"
REQUEST = "org.fedorahosted.certmonger.request"
CA = "org.fedorahosted.certmonger.ca"


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def dispatcher(engine: FakeEngine) -> Dispatcher:
    registry = ObjectRegistry()
    for ca in engine.cas():
        registry.ca_path(ca)
    for request in engine.requests():
        registry.request_path(request)
    return Dispatcher(Context(engine, registry))


def call(dispatcher: Dispatcher, path: str, interface: str | None, member: str,
         signature: str = "", *args: Any) -> Reply:
    return dispatcher.dispatch(Call(path=path, interface=interface, member=member,
                                    signature=signature, args=list(args), caller_uid=0))


def req(n: int) -> str:
    return f"{BASE}/requests/Request{n}"


def test_storage_info_is_two_strings_for_a_file(dispatcher: Dispatcher) -> None:
    reply = call(dispatcher, req(1), REQUEST, "get_cert_storage_info")
    assert (reply.signature, reply.body) == ("ss", ["FILE", "/etc/pki/example/ss1.crt"])


def test_storage_info_is_four_strings_for_a_database(dispatcher: Dispatcher) -> None:
    reply = call(dispatcher, req(3), REQUEST, "get_key_storage_info")
    assert (reply.signature, reply.body) == (
        "ssss", ["NSSDB", "sql:/etc/pki/example/nssdb", "srv-cert", "NSS Certificate DB"])


def test_storage_info_without_a_token_is_three_strings(engine: FakeEngine,
                                                       dispatcher: Dispatcher) -> None:
    engine.requests()[2].cert_token = ""
    reply = call(dispatcher, req(3), REQUEST, "get_cert_storage_info")
    assert reply.signature == "sss"


def test_key_storage_info_for_no_key_is_one_string(engine: FakeEngine,
                                                   dispatcher: Dispatcher) -> None:
    engine.requests()[0].key_storage_type = "NONE"
    assert call(dispatcher, req(1), REQUEST, "get_key_storage_info").body == ["NONE"]


@pytest.mark.parametrize("member", ["get_ca_error", "get_submitted_cookie"])
def test_unset_strings_are_empty_replies(dispatcher: Dispatcher, member: str) -> None:
    reply = call(dispatcher, req(1), REQUEST, member)
    assert (reply.signature, reply.body) == ("", [])


def test_a_request_without_a_csr_has_no_csr_info(engine: FakeEngine,
                                                 dispatcher: Dispatcher) -> None:
    engine.requests()[0].csr = ""
    assert call(dispatcher, req(1), REQUEST, "get_csr_info").body == []


def test_csr_info_comes_from_the_template(dispatcher: Dispatcher) -> None:
    reply = call(dispatcher, req(1), REQUEST, "get_csr_info")
    assert reply.signature == "sasasasxas"
    assert reply.body[0] == "CN=ss1.example.test"
    assert reply.body[4] == 5


def test_cert_info_has_every_field(dispatcher: Dispatcher) -> None:
    reply = call(dispatcher, req(1), REQUEST, "get_cert_info")
    assert reply.signature == "sssxasasasxasx"
    assert reply.body == ["CN=ss1.example.test", "01", "CN=ss1.example.test", 1827264852,
                          ["admin@example.test"], ["ss1.example.test"],
                          ["host/ss1.example.test@EXAMPLE.TEST"], 5,
                          ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], 1795728852]


def test_an_unread_key_is_unknown(engine: FakeEngine, dispatcher: Dispatcher) -> None:
    engine.requests()[0].key_type = "UNSPECIFIED"
    engine.requests()[0].key_size = 0
    assert call(dispatcher, req(1), REQUEST, "get_key_type_and_size").body == ["UNKNOWN", 0]


def test_status_carries_the_stuck_flag(engine: FakeEngine, dispatcher: Dispatcher) -> None:
    engine.requests()[0].state = State.NEED_GUIDANCE
    assert call(dispatcher, req(1), REQUEST, "get_status").body == ["NEED_GUIDANCE", True]


def test_get_ca_answers_the_cas_path(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, req(2), REQUEST, "get_ca").body == [f"{BASE}/cas/CA4"]


def test_get_ca_of_a_request_without_a_known_ca_is_empty(engine: FakeEngine,
                                                         dispatcher: Dispatcher) -> None:
    engine.requests()[1].ca_name = "gone"
    assert call(dispatcher, req(2), REQUEST, "get_ca").signature == ""


def test_unset_dates_are_empty_replies(engine: FakeEngine, dispatcher: Dispatcher) -> None:
    engine.requests()[0].submitted = 0
    assert call(dispatcher, req(1), REQUEST, "get_submitted_date").signature == ""
    assert call(dispatcher, req(1), REQUEST, "get_cert_last_checked").signature == ""


def test_notification_info_comes_from_the_configuration(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, req(1), REQUEST, "get_notification_info").body == [
        "syslog", "daemon.notice"]


def test_the_self_signer_has_a_serial_and_no_helper(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, f"{BASE}/cas/CA1", CA, "get_serial").body == ["02"]
    assert call(dispatcher, f"{BASE}/cas/CA1", CA, "get_location").body == [""]
    assert call(dispatcher, f"{BASE}/cas/CA2", CA, "get_serial").signature == ""


def test_find_by_nickname_is_exact(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, BASE, MANAGER, "find_request_by_nickname", "s", "loc1").body == [
        req(2)]
    assert call(dispatcher, BASE, MANAGER, "find_request_by_nickname", "s", "LOC1").body == []
    assert call(dispatcher, BASE, MANAGER, "find_ca_by_nickname", "s", "local").body == [
        f"{BASE}/cas/CA4"]


def test_listing_follows_engine_order(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, BASE, MANAGER, "get_requests").body == [[req(1), req(2), req(3)]]
    assert call(dispatcher, BASE, MANAGER, "get_known_cas").body == [
        [f"{BASE}/cas/CA{n}" for n in (1, 2, 3, 4)]]


def test_supported_types(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, BASE, MANAGER, "get_supported_key_types").body == [["RSA", "EC"]]
    assert call(dispatcher, BASE, MANAGER, "get_supported_cert_storage").body == [
        ["NSSDB", "FILE"]]


def test_add_request_answers_the_new_path(engine: FakeEngine, dispatcher: Dispatcher,
                                          tmp_path: Any) -> None:
    reply = call(dispatcher, BASE, MANAGER, "add_request", "a{sv}",
                 {"CERT_STORAGE": "FILE", "CERT_LOCATION": str(tmp_path / "a.crt"),
                  "NICKNAME": "new"})
    assert reply.body == [True, req(4)]
    assert engine.request_by_nickname("new") is not None


def test_removed_numbers_are_not_reused(engine: FakeEngine, dispatcher: Dispatcher,
                                        tmp_path: Any) -> None:
    assert call(dispatcher, BASE, MANAGER, "remove_request", "o", req(3)).body == [True]
    reply = call(dispatcher, BASE, MANAGER, "add_request", "a{sv}",
                 {"CERT_STORAGE": "FILE", "CERT_LOCATION": str(tmp_path / "a.crt")})
    assert reply.body[1] == req(4)


def test_removing_an_unknown_request_is_no_such_entry(dispatcher: Dispatcher) -> None:
    with pytest.raises(NoSuchEntryError) as exc:
        call(dispatcher, BASE, MANAGER, "remove_request", "o", req(9))
    assert exc.value.dbus_body() == ("s", ["No matching entry found.\n"])


def test_a_ca_nickname_in_use_is_a_duplicate(dispatcher: Dispatcher) -> None:
    with pytest.raises(DuplicateError) as exc:
        call(dispatcher, BASE, MANAGER, "add_known_ca", "ssas", "LOCAL", "/bin/true", [])
    assert exc.value.dbus_body() == (
        "sas", ['There is already a CA with the nickname "local".', []])


def test_add_known_ca_answers_the_new_path(engine: FakeEngine, dispatcher: Dispatcher) -> None:
    reply = call(dispatcher, BASE, MANAGER, "add_known_ca", "ssas", "test", "/bin/true x", [])
    assert reply.body == [True, f"{BASE}/cas/CA5"]
    ca = engine.ca_by_nickname("test")
    assert ca is not None and (ca.ca_type, ca.external_helper) == ("EXTERNAL", "/bin/true x")


def test_modify_answers_the_requests_own_path(engine: FakeEngine,
                                              dispatcher: Dispatcher) -> None:
    reply = call(dispatcher, req(2), REQUEST, "modify", "a{sv}", {"NICKNAME": "loc1"})
    assert (reply.signature, reply.body) == ("bo", [True, req(2)])


def test_resubmit_goes_to_the_engine(engine: FakeEngine, dispatcher: Dispatcher) -> None:
    assert call(dispatcher, req(1), REQUEST, "resubmit").body == [True]
    assert engine.calls[-1][0] == "resubmit"


# -- routing ----------------------------------------------------------------------------------


def test_an_unknown_method_gets_libdbus_text(dispatcher: Dispatcher) -> None:
    with pytest.raises(UnknownMethodError) as exc:
        call(dispatcher, BASE, MANAGER, "bogus")
    assert exc.value.dbus_body() == (
        "s", [('Method "bogus" with signature "" on interface "org.fedorahosted.certmonger" '
              "doesn't exist\n")])


def test_an_unknown_path_is_an_unknown_method_too(dispatcher: Dispatcher) -> None:
    with pytest.raises(UnknownMethodError) as exc:
        call(dispatcher, req(99), None, "get_nickname")
    assert 'on interface "(null)"' in exc.value.message


def test_a_method_of_another_interface_is_unknown(dispatcher: Dispatcher) -> None:
    with pytest.raises(UnknownMethodError):
        call(dispatcher, f"{BASE}/cas/CA1", REQUEST, "get_nickname")


def test_without_an_interface_the_member_is_found(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, f"{BASE}/cas/CA1", None, "get_nickname").body == ["SelfSign"]


def test_the_groups_have_no_properties(dispatcher: Dispatcher) -> None:
    with pytest.raises(UnknownMethodError):
        call(dispatcher, f"{BASE}/cas", "org.freedesktop.DBus.Properties", "GetAll", "s", "")


def test_extra_arguments_are_ignored(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, req(1), REQUEST, "get_nickname", "s", "extra").body == ["ss1"]


def test_missing_arguments_get_an_error_instead_of_silence(dispatcher: Dispatcher) -> None:
    with pytest.raises(BadArgError) as exc:
        call(dispatcher, BASE, MANAGER, "remove_request", "s", req(1))
    assert exc.value.dbus_body() == ("ss", ["Error parsing arguments.", ""])
    with pytest.raises(RequestBadArgError):
        call(dispatcher, req(1), "org.freedesktop.DBus.Properties", "GetAll")


def test_introspecting_an_unknown_path_gives_the_empty_node(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, "/org/freedesktop", None, "Introspect").body == [EMPTY_NODE]


def test_ping_works_on_any_path(dispatcher: Dispatcher) -> None:
    assert call(dispatcher, "/nowhere", "org.freedesktop.DBus.Peer", "Ping").signature == ""
    assert call(dispatcher, BASE, None, "Ping").signature == ""


def test_an_engine_failure_is_an_internal_error(engine: FakeEngine,
                                                dispatcher: Dispatcher) -> None:
    def broken(ca: Any) -> bool:
        raise RuntimeError("boom")
    engine.refresh_ca = broken  # type: ignore[method-assign]
    with pytest.raises(CAInternalError) as exc:
        call(dispatcher, f"{BASE}/cas/CA1", CA, "refresh")
    assert exc.value.dbus_name == "org.fedorahosted.certmonger.ca.internal"


def test_the_caller_is_only_needed_for_save_commands() -> None:
    def needs(member: str, args: list[Any]) -> bool:
        return Dispatcher.needs_caller(Call(path=BASE, interface=None, member=member,
                                            signature="a{sv}", args=args))
    assert needs("add_request", [{"CERT-POSTSAVE-COMMAND": "x"}])
    assert not needs("add_request", [{"CERT_STORAGE": "FILE"}])
    assert needs("modify", [{"cert-presave-command": ""}])
    assert not needs("get_requests", [])


def test_a_request_added_meanwhile_gets_the_next_number(engine: FakeEngine,
                                                        dispatcher: Dispatcher) -> None:
    engine._requests.append(Request(nickname="late"))
    assert call(dispatcher, BASE, MANAGER, "get_requests").body[0][-1] == req(4)
