"""Request and CA properties: values, unset rules, Get/GetAll/Set, change mapping.

The expected GetAll key sets are what the stock certmonger 0.79.17 daemon returned for the
very same records (tests/fixtures/stock), loaded from disk.
"""

from __future__ import annotations

from typing import Any

import pytest
from dbus_fast import Variant

from pycertmonger.bus import props
from pycertmonger.bus.calls import EMPTY, Call, Context
from pycertmonger.bus.properties import get, get_all, set_
from pycertmonger.bus.registry import ObjectRegistry
from pycertmonger.errors import RequestBadArgError
from pycertmonger.model import CA, Request, State
from tests.support.fake_engine import FakeEngine

REQUEST_IFACE = "org.fedorahosted.certmonger.request"
CA_IFACE = "org.fedorahosted.certmonger.ca"

COMMON = {
    "autorenew", "ca", "cert", "cert-database", "cert-file", "cert-nickname", "cert-perms",
    "cert-storage", "cert-token", "csr", "issuer", "key-database", "key-file",
    "key-generated-date", "key-issued-count", "key-nickname", "key-perms", "key-pin",
    "key-pin-file", "key-size", "key-storage", "key-token", "key-type", "last-checked",
    "monitoring", "nickname", "not-valid-after", "not-valid-before", "notification-command",
    "notification-email", "notification-syslog-priority", "notification-type", "serial",
    "status", "stuck", "subject", "submitted-date", "template-ca-path-length",
    "template-challenge-password", "template-challenge-password-file", "template-is-ca",
    "template-subject",
}
STOCK_GETALL_KEYS = {
    "ss1": COMMON | {"ca-profile", "cert-postsave-command", "cert-postsave-uid", "eku", "email",
                     "hostname", "ku", "principal", "template-eku", "template-email",
                     "template-hostname", "template-ip-address", "template-ku",
                     "template-principal", "template-profile"},
    "loc1": COMMON | {"hostname", "root-cert-files", "template-hostname"},
    "nss1": COMMON,
}
CA_COMMON = {"nickname", "aka", "is-default", "external-helper", "scep-cipher", "scep-digest",
             "scep-ca-identifier"}
STOCK_CA_GETALL_KEYS = {
    "SelfSign": CA_COMMON | {"required-enroll-attributes", "required-renew-attributes"},
    "IPA": CA_COMMON | {"required-enroll-attributes"},
    "dogtag-ipa-renew-agent": CA_COMMON,
    "local": CA_COMMON | {"root-certs"},
}


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def ctx(engine: FakeEngine) -> Context:
    registry = ObjectRegistry()
    for ca in engine.cas():
        registry.ca_path(ca)
    for request in engine.requests():
        registry.request_path(request)
    return Context(engine, registry)


def request_named(engine: FakeEngine, nickname: str) -> Request:
    found = engine.request_by_nickname(nickname)
    assert found is not None
    return found


def path_of(ctx: Context, obj: Request | CA) -> str:
    return ctx.registry.request_path(obj) if isinstance(obj, Request) else \
        ctx.registry.ca_path(obj)


def prop_call(ctx: Context, obj: Request | CA, member: str, *args: Any) -> Call:
    return Call(path=path_of(ctx, obj), interface="org.freedesktop.DBus.Properties",
                member=member, signature="", args=list(args), caller_uid=0)


@pytest.mark.parametrize("nickname", ["ss1", "loc1", "nss1"])
def test_get_all_lists_what_the_stock_daemon_lists(engine: FakeEngine, ctx: Context,
                                                   nickname: str) -> None:
    assert set(props.get_all(request_named(engine, nickname), ctx)) == \
        STOCK_GETALL_KEYS[nickname]


@pytest.mark.parametrize("nickname", list(STOCK_CA_GETALL_KEYS))
def test_ca_get_all_lists_what_the_stock_daemon_lists(engine: FakeEngine, ctx: Context,
                                                      nickname: str) -> None:
    ca = engine.ca_by_nickname(nickname)
    assert ca is not None
    assert set(props.get_all(ca, ctx)) == STOCK_CA_GETALL_KEYS[nickname]


def test_values_come_from_the_record(engine: FakeEngine, ctx: Context) -> None:
    values = props.get_all(request_named(engine, "ss1"), ctx)
    assert values["nickname"] == ("s", "ss1")
    assert values["status"] == ("s", "MONITORING")
    assert values["stuck"] == ("b", False)
    assert values["serial"] == ("s", "01")
    assert values["not-valid-after"] == ("x", 1827264852)
    assert values["eku"] == ("as", ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])
    assert values["ku"] == ("s", "101")
    assert values["cert-file"] == ("s", "/etc/pki/example/ss1.crt")
    assert values["cert-database"] == ("s", "")
    assert values["cert-postsave-uid"] == ("s", "0")
    assert values["template-ca-path-length"] == ("x", -1)
    assert values["key-type"] == ("s", "RSA")
    assert values["ca-profile"] == ("s", "myprofile")


def test_the_ca_property_is_the_cas_real_path(engine: FakeEngine, ctx: Context) -> None:
    values = props.get_all(request_named(engine, "nss1"), ctx)
    assert values["ca"] == ("o", "/org/fedorahosted/certmonger/cas/CA4")


def test_database_details_show_for_nssdb_storage_only(engine: FakeEngine,
                                                      ctx: Context) -> None:
    values = props.get_all(request_named(engine, "nss1"), ctx)
    assert values["cert-database"] == ("s", "sql:/etc/pki/example/nssdb")
    assert values["cert-nickname"] == ("s", "srv-cert")
    assert values["cert-token"] == ("s", "NSS Certificate DB")
    assert values["cert-file"] == ("s", "")


def test_an_unread_key_has_no_type_or_size(ctx: Context) -> None:
    values = props.get_all(Request(key_size=2048), ctx)
    assert values["key-type"] == ("s", "")
    assert values["key-size"] == ("x", 0)


def test_the_path_length_only_counts_for_a_ca_template(ctx: Context) -> None:
    assert props.get_all(Request(template_is_ca=True, template_ca_path_length=2),
                         ctx)["template-ca-path-length"] == ("x", 2)


def test_notification_properties_follow_the_method(ctx: Context) -> None:
    values = props.get_all(Request(notification_method="mail",
                                   notification_destination="root@localhost"), ctx)
    assert values["notification-type"] == ("s", "EMAIL")
    assert values["notification-email"] == ("s", "root@localhost")
    assert values["notification-syslog-priority"] == ("s", "")


@pytest.mark.parametrize(("bits", "number"), [("101", 5), ("0000001", 64), ("010001", 34),
                                              ("1", 1), ("", 0)])
def test_key_usage_bits_become_a_number(bits: str, number: int) -> None:
    assert props.ku_bits_to_int(bits) == number


def test_state_changes_map_to_status_and_stuck() -> None:
    names = [p.name for p in props.affected(Request(), {"state"})]
    assert names == ["status", "stuck"]


def test_storage_changes_map_to_the_derived_properties() -> None:
    names = {p.name for p in props.affected(Request(), {"cert_storage_location"})}
    assert names == {"cert-file", "cert-database"}


# -- Properties.Get / GetAll / Set ------------------------------------------------------------


def test_get_of_an_unset_string_has_no_body(engine: FakeEngine, ctx: Context) -> None:
    call = prop_call(ctx, request_named(engine, "ss1"), "Get", REQUEST_IFACE,
                     "template-ms-certificate-template")
    assert get(ctx, call) is EMPTY


def test_get_of_an_empty_list_is_an_empty_array(engine: FakeEngine, ctx: Context) -> None:
    reply = get(ctx, prop_call(ctx, request_named(engine, "nss1"), "Get", REQUEST_IFACE,
                               "template-email"))
    assert reply.signature == "v"
    assert reply.body[0].signature == "as"
    assert reply.body[0].value == []


def test_get_of_a_computed_string_answers_empty(engine: FakeEngine, ctx: Context) -> None:
    reply = get(ctx, prop_call(ctx, request_named(engine, "ss1"), "Get", REQUEST_IFACE,
                               "key-pin"))
    assert reply.body == [Variant("s", "")]


def test_get_with_an_empty_interface_name_finds_the_property(engine: FakeEngine,
                                                              ctx: Context) -> None:
    reply = get(ctx, prop_call(ctx, request_named(engine, "ss1"), "Get", "", "nickname"))
    assert reply.body == [Variant("s", "ss1")]


@pytest.mark.parametrize(("interface", "name"), [
    (REQUEST_IFACE, "bogus"), ("org.example.Other", "nickname"), (CA_IFACE, "nickname"),
])
def test_get_of_an_unknown_property_is_a_request_bad_arg(engine: FakeEngine, ctx: Context,
                                                         interface: str, name: str) -> None:
    with pytest.raises(RequestBadArgError) as exc:
        get(ctx, prop_call(ctx, request_named(engine, "ss1"), "Get", interface, name))
    assert exc.value.dbus_body() == ("ss", ["Unrecognized property name.", name])


def test_ca_properties_answer_with_the_request_error_name_too(engine: FakeEngine,
                                                              ctx: Context) -> None:
    ca = engine.cas()[0]
    with pytest.raises(RequestBadArgError):
        get(ctx, prop_call(ctx, ca, "Get", CA_IFACE, "bogus"))


def test_the_manager_has_no_properties(ctx: Context) -> None:
    call = Call(path="/org/fedorahosted/certmonger", interface=None, member="Get",
                signature="ss", args=["org.fedorahosted.certmonger", "x"])
    with pytest.raises(RequestBadArgError):
        get(ctx, call)
    call.args = ["org.fedorahosted.certmonger"]
    assert get_all(ctx, call).body == [{}]


def test_get_all_of_another_interface_is_empty(engine: FakeEngine, ctx: Context) -> None:
    reply = get_all(ctx, prop_call(ctx, request_named(engine, "ss1"), "GetAll", "org.x.Y"))
    assert reply.body == [{}]


def test_set_of_a_read_only_property_is_refused(engine: FakeEngine, ctx: Context) -> None:
    with pytest.raises(RequestBadArgError) as exc:
        set_(ctx, prop_call(ctx, request_named(engine, "ss1"), "Set", REQUEST_IFACE, "status",
                            Variant("s", "MONITORING")))
    assert exc.value.dbus_body() == ("ss", ["Property is read-only.", "status"])


def test_set_with_the_wrong_type_is_refused(engine: FakeEngine, ctx: Context) -> None:
    with pytest.raises(RequestBadArgError) as exc:
        set_(ctx, prop_call(ctx, request_named(engine, "ss1"), "Set", REQUEST_IFACE,
                            "template-subject", Variant("b", True)))
    assert exc.value.dbus_body()[1] == ["Unrecognized parameter or wrong value type.",
                                        "template-subject"]


def test_set_changes_the_request_through_the_engine(engine: FakeEngine, ctx: Context) -> None:
    request = request_named(engine, "ss1")
    reply = set_(ctx, prop_call(ctx, request, "Set", REQUEST_IFACE, "template-ns-certtype",
                                Variant("s", "server")))
    assert reply is EMPTY
    assert engine.calls[-1] == ("modify_request", (request, {"template_ns_certtype": "server"}))


def test_set_of_the_default_flag_moves_it(engine: FakeEngine, ctx: Context) -> None:
    selfsign, ipa = engine.cas()[0], engine.cas()[1]
    set_(ctx, prop_call(ctx, ipa, "Set", CA_IFACE, "is-default", Variant("b", True)))
    set_(ctx, prop_call(ctx, selfsign, "Set", CA_IFACE, "is-default", Variant("b", True)))
    assert (selfsign.is_default, ipa.is_default) == (True, False)


def test_set_of_the_self_signers_helper_changes_nothing(engine: FakeEngine,
                                                        ctx: Context) -> None:
    selfsign = engine.cas()[0]
    set_(ctx, prop_call(ctx, selfsign, "Set", CA_IFACE, "external-helper",
                        Variant("s", "/bin/false")))
    assert selfsign.external_helper == ""


def test_set_of_a_ca_helper_goes_through_the_engine(engine: FakeEngine, ctx: Context) -> None:
    ipa = engine.cas()[1]
    set_(ctx, prop_call(ctx, ipa, "Set", CA_IFACE, "external-helper", Variant("s", "/bin/x")))
    assert engine.calls[-1] == ("modify_ca", (ipa, {"external_helper": "/bin/x"}))


def test_a_state_change_is_seen_by_get(engine: FakeEngine, ctx: Context) -> None:
    request = request_named(engine, "loc1")
    engine.set_state(request, State.CA_UNREACHABLE, ca_error="down")
    values = props.get_all(request, ctx)
    assert values["status"] == ("s", "CA_UNREACHABLE")
    assert values["ca-error"] == ("s", "down")
