"""The D-Bus interfaces certmonger 0.79.17 exports, as plain tables.

Every method, property and signal appears in the order certmonger's introspection lists
it (methods and properties interleaved, as certmonger declares them), with the argument
names and types it declares.  `introspect.render` turns these tables into XML that is
byte-identical to the stock daemon's; the dispatcher reads them to know which methods
exist, what signature each call must start with, and which properties are writable.

The declared out-arguments are what introspection shows, not always what is sent: like
certmonger, some replies carry no body for "unset" and the storage-info calls send two or
four strings although three are declared (see `bus/request.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUS_NAME = "org.fedorahosted.certmonger"
BASE_PATH = "/org/fedorahosted/certmonger"
CA_PATH = BASE_PATH + "/cas"
REQUEST_PATH = BASE_PATH + "/requests"

INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PROPERTIES = "org.freedesktop.DBus.Properties"
PEER = "org.freedesktop.DBus.Peer"
MANAGER = "org.fedorahosted.certmonger"
CA = "org.fedorahosted.certmonger.ca"
REQUEST = "org.fedorahosted.certmonger.request"
# pycertmonger's own additions live on an interface of their own, so that the stock
# interfaces stay exactly as certmonger declares them.
EXTENSION = "org.fedorahosted.certmonger.pycertmonger1"


@dataclass(frozen=True)
class Arg:
    """One method or signal argument."""

    name: str
    type: str
    direction: str = ""  # "in" / "out" for methods, "" for signals


@dataclass(frozen=True)
class Method:
    """A method: its arguments in declaration order."""

    name: str
    args: tuple[Arg, ...] = ()

    @property
    def in_signature(self) -> str:
        """The signature a call's body must start with."""
        return "".join(a.type for a in self.args if a.direction == "in")

    @property
    def out_signature(self) -> str:
        """The declared reply signature."""
        return "".join(a.type for a in self.args if a.direction == "out")


@dataclass(frozen=True)
class Property:
    """A property: its D-Bus type, access and annotations."""

    name: str
    type: str
    access: str = "read"  # "read" or "readwrite"
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def writable(self) -> bool:
        """Whether `Properties.Set` may change it."""
        return self.access != "read"


@dataclass(frozen=True)
class Signal:
    """A signal and its declared arguments."""

    name: str
    args: tuple[Arg, ...] = ()


Member = Method | Property | Signal


@dataclass(frozen=True)
class Interface:
    """An interface: its members in introspection order."""

    name: str
    members: tuple[Member, ...]
    methods: dict[str, Method] = field(init=False, repr=False, compare=False)
    properties: dict[str, Property] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods",
                           {m.name: m for m in self.members if isinstance(m, Method)})
        object.__setattr__(self, "properties",
                           {m.name: m for m in self.members if isinstance(m, Property)})


def _in(name: str, type_: str) -> Arg:
    return Arg(name, type_, "in")


def _out(name: str, type_: str) -> Arg:
    return Arg(name, type_, "out")


def _getter(name: str, *outs: tuple[str, str]) -> Method:
    return Method(name, tuple(_out(n, t) for n, t in outs))


def _props(type_: str, access: str, *names: str) -> tuple[Property, ...]:
    return tuple(Property(n, type_, access) for n in names)


INTROSPECTABLE_IFACE = Interface(INTROSPECTABLE, (
    Method("Introspect", (_out("xml_data", "s"),)),
))

PROPERTIES_IFACE = Interface(PROPERTIES, (
    Method("Get", (_in("interface_name", "s"), _in("property_name", "s"), _out("value", "v"))),
    Method("Set", (_in("interface_name", "s"), _in("property_name", "s"), _in("value", "v"))),
    Method("GetAll", (_in("interface_name", "s"), _out("props", "a{sv}"))),
    # Declared with the standard third argument, although certmonger sends (and we
    # send) PropertiesChanged as `sa{sv}` only.
    Signal("PropertiesChanged", (Arg("interface_name", "s"), Arg("changed_properties", "a{sv}"),
                                 Arg("invalidated_properties", "as"))),
))

MANAGER_IFACE = Interface(MANAGER, (
    Method("add_known_ca", (_in("nickname", "s"), _in("command", "s"), _in("known_names", "as"),
                            _out("status", "b"), _out("name", "o"))),
    Method("add_request", (_in("template", "a{sv}"), _out("status", "b"), _out("name", "o"))),
    Method("find_ca_by_nickname", (_in("nickname", "s"), _out("ca", "o"))),
    Method("find_request_by_nickname", (_in("nickname", "s"), _out("request", "o"))),
    _getter("get_known_cas", ("ca_list", "ao")),
    _getter("get_requests", ("requests", "ao")),
    _getter("get_supported_key_types", ("key_type_list", "as")),
    _getter("get_supported_key_storage", ("key_storage_type_list", "as")),
    _getter("get_supported_cert_storage", ("cert_storage_type_list", "as")),
    Method("remove_known_ca", (_in("ca", "o"), _out("status", "b"))),
    Method("remove_request", (_in("request", "o"), _out("status", "b"))),
))

CA_IFACE = Interface(CA, (
    _getter("get_config_file_path", ("path", "s")),
    _getter("get_nickname", ("nickname", "s")),
    Property("nickname", "s"),
    Property("aka", "s"),
    _getter("get_is_default", ("default", "b")),
    Property("is-default", "b", "readwrite"),
    _getter("get_type", ("type", "s")),
    _getter("get_serial", ("serial_hex", "s")),
    _getter("get_location", ("path", "s")),
    Property("external-helper", "s", "readwrite"),
    _getter("get_issuer_names", ("names", "as")),
    _getter("refresh", ("working", "b")),
    Property("ca-error", "s"),
    Property("issuer-names", "as"),
    *_props("a(ss)", "read", "root-certs", "root-other-certs", "other-certs"),
    *_props("as", "read", "required-enroll-attributes", "required-renew-attributes",
            "supported-profiles"),
    Property("default-profile", "s"),
    *_props("as", "readwrite", "root-cert-files", "root-other-cert-files", "other-cert-files",
            "root-cert-nssdbs", "root-other-cert-nssdbs", "other-cert-nssdbs"),
    *_props("s", "read", "ca-presave-command", "ca-presave-uid", "ca-postsave-command",
            "ca-postsave-uid"),
    *_props("s", "readwrite", "scep-cipher", "scep-digest", "scep-ca-identifier"),
    Property("scep-ca-capabilities", "as"),
    *_props("s", "read", "scep-ra-cert", "scep-ca-cert", "scep-other-certs"),
))

_STORAGE_INFO = (("type", "s"), ("location_or_nickname", "s"), ("nss_token", "s"))

REQUEST_IFACE = Interface(REQUEST, (
    _getter("get_nickname", ("nickname", "s")),
    Property("nickname", "s"),
    _getter("get_autorenew", ("enabled", "b")),
    Property("autorenew", "b"),
    _getter("get_cert_data", ("pem", "s")),
    Property("cert", "s", annotations=(("org.freedesktop.DBus.Property.EmitsChangedSignal",
                                        "true"),)),
    *_props("a(ss)", "read", "cert-chain", "cert-roots"),
    _getter("get_cert_info", ("issuer", "s"), ("serial_hex", "s"), ("subject", "s"),
            ("not_after", "x"), ("email", "as"), ("dns", "as"), ("principal_names", "as"),
            ("key_usage", "x"), ("extended_key_usage", "as"), ("not_before", "x")),
    *_props("s", "read", "issuer", "serial", "subject"),
    *_props("x", "read", "not-valid-before", "not-valid-after"),
    Property("email", "as"),
    Property("ku", "s"),
    *_props("as", "read", "eku", "hostname", "principal"),
    _getter("get_cert_last_checked", ("date", "x")),
    Property("last-checked", "x"),
    _getter("get_cert_storage_info", *_STORAGE_INFO),
    *_props("s", "read", "cert-storage", "cert-file", "cert-database", "cert-nickname",
            "cert-token"),
    Property("cert-owner", "s", "readwrite"),
    Property("cert-perms", "x", "readwrite"),
    _getter("get_csr_data", ("pem", "s")),
    Property("csr", "s"),
    _getter("get_csr_info", ("subject", "s"), ("email", "as"), ("dns", "as"),
            ("principal_names", "as"), ("key_usage", "x"), ("extended_key_usage", "as")),
    *_props("s", "readwrite", "key-pin", "key-pin-file"),
    *_props("x", "read", "key-generated-date", "key-issued-count"),
    Property("template-subject", "s", "readwrite"),
    Property("template-email", "as", "readwrite"),
    Property("template-ku", "s", "readwrite"),
    *_props("as", "readwrite", "template-eku", "template-hostname", "template-principal",
            "template-ip-address"),
    Property("template-is-ca", "b"),
    Property("template-ca-path-length", "x"),
    *_props("as", "readwrite", "template-ocsp", "template-crldp", "template-freshest-crl"),
    *_props("s", "readwrite", "template-ns-comment", "template-profile", "template-issuer",
            "template-ms-certificate-template", "template-ns-certtype",
            "template-challenge-password", "template-challenge-password-file"),
    _getter("get_key_pin", ("pin", "s")),
    _getter("get_key_pin_file", ("pin_file", "s")),
    _getter("get_key_storage_info", *_STORAGE_INFO),
    *_props("s", "read", "key-storage", "key-file", "key-database", "key-nickname", "key-token"),
    Property("key-owner", "s", "readwrite"),
    Property("key-perms", "x", "readwrite"),
    _getter("get_key_type_and_size", ("type", "s"), ("size", "x")),
    Property("key-type", "s"),
    Property("key-size", "x"),
    _getter("get_monitoring", ("enabled", "b")),
    Property("monitoring", "b"),
    _getter("get_notification_info", ("method", "s"), ("destination", "s")),
    *_props("s", "read", "notification-type", "notification-syslog-priority",
            "notification-email", "notification-command"),
    _getter("get_status", ("state", "s"), ("blocked", "b")),
    Property("status", "s"),
    Property("stuck", "b"),
    _getter("get_ca", ("name", "o")),
    Property("ca", "o"),
    Property("ca-profile", "s"),
    Property("nss-user", "s", "readwrite"),
    *_props("as", "read", "root-cert-files", "root-other-cert-files", "other-cert-files",
            "root-cert-nssdbs", "root-other-cert-nssdbs", "other-cert-nssdbs"),
    _getter("get_submitted_cookie", ("cookie", "s")),
    Property("ca-cookie", "s"),
    _getter("get_ca_error", ("text", "s")),
    Property("ca-error", "s"),
    _getter("get_submitted_date", ("date", "x")),
    Property("submitted-date", "x"),
    Method("modify", (_in("updates", "a{sv}"), _out("status", "b"), _out("path", "o"))),
    _getter("rekey", ("working", "b")),
    _getter("resubmit", ("working", "b")),
    _getter("refresh", ("working", "b")),
    *_props("s", "read", "cert-presave-command", "cert-presave-uid", "cert-postsave-command",
            "cert-postsave-uid"),
    Signal("SavedCertificate"),
))

EXTENSION_IFACE = Interface(EXTENSION, (
    _getter("get_all_requests_info", ("requests", "a{oa{sv}}")),
    _getter("get_all_cas_info", ("cas", "a{oa{sv}}")),
))
