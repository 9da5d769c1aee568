"""Request and CA properties: their D-Bus values, and when certmonger calls them unset.

Each property is read from the model by a small getter.  Its `unset` rule says how
certmonger presents a value that is not set, which clients rely on (reference §2.5):

* `STR`    a plain string field: `Get` answers with **no body at all** when it is empty,
           and `GetAll` leaves it out;
* `ALWAYS` booleans, numbers and the strings certmonger computes (storage details, the
           PIN, notification settings...): always answered, `""`/`0` when empty;
* `LIST`   arrays: `Get` answers with an empty array, `GetAll` leaves an empty one out;
* `PATH`   the `ca` object path: no body and left out when there is none.

`fields` names the model attributes a property is computed from, so that an engine
announcement ("these fields changed") maps to the properties to re-read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ..model import CA, Request, StorageType

STR = "str"
ALWAYS = "always"
LIST = "list"
PATH = "path"


class PropContext(Protocol):
    """What a getter may need beyond the record itself."""

    def ca_path_by_nickname(self, nickname: str) -> str:
        """The object path of the CA with this nickname, or "" when there is none."""

    def last_checked(self, request: Request) -> int:
        """When the request's certificate was last looked at (Unix seconds, 0 if never)."""


@dataclass(frozen=True)
class PropDef:
    """One property of a request or CA object."""

    name: str
    signature: str
    getter: Callable[[Any, PropContext], Any]
    unset: str
    fields: frozenset[str]

    def value(self, obj: Any, ctx: PropContext) -> Any:
        """The property's current value as plain Python data for its signature."""
        return self.getter(obj, ctx)

    def is_set(self, value: Any) -> bool:
        """Whether certmonger would treat `value` as present (see the module docstring)."""
        return self.unset == ALWAYS or bool(value)


def ku_bits_to_int(bits: str) -> int:
    """certmonger's key-usage bit string ("101": bit i is character i) as an integer."""
    return sum(1 << i for i, c in enumerate(bits or "") if c == "1")


def _field(name: str) -> Callable[[Any, PropContext], Any]:
    return lambda obj, ctx: getattr(obj, name)


def _list(name: str) -> Callable[[Any, PropContext], Any]:
    return lambda obj, ctx: list(getattr(obj, name))


def _pairs(name: str) -> Callable[[Any, PropContext], Any]:
    return lambda obj, ctx: [[nick, pem] for nick, pem in getattr(obj, name)]


def _stored_in(kind: str, attr: str, prefix: str) -> Callable[[Any, PropContext], Any]:
    """A storage detail that only applies to one storage type (certmonger shows "")."""
    def get(obj: Any, ctx: PropContext) -> Any:
        return getattr(obj, attr) if getattr(obj, f"{prefix}_storage_type") == kind else ""
    return get


def _key_type(r: Request, ctx: PropContext) -> str:
    return "" if r.key_type in ("", "UNSPECIFIED") else r.key_type


def _key_size(r: Request, ctx: PropContext) -> int:
    return 0 if r.key_type in ("", "UNSPECIFIED") else r.key_size


_NOTIFY_TYPES = {"syslog": "SYSLOG", "email": "EMAIL", "mail": "EMAIL", "mailto": "EMAIL",
                 "stdout": "STDOUT", "command": "COMMAND"}


def _notification_type(r: Request, ctx: PropContext) -> str:
    return _NOTIFY_TYPES.get(r.notification_method.lower(), "")


def _notification_for(kind: str) -> Callable[[Request, PropContext], str]:
    def get(r: Request, ctx: PropContext) -> str:
        return r.notification_destination if _notification_type(r, ctx) == kind else ""
    return get


def _ca_path(r: Request, ctx: PropContext) -> str:
    # certmonger 0.79.17 puts ".../requests/CA<N>" here; we give the CA's real path (the
    # one get_ca() returns).  See docs/compat.md.
    return ctx.ca_path_by_nickname(r.ca_name) if r.ca_name else ""


def _path_length(r: Request, ctx: PropContext) -> int:
    # certmonger reports -1 unless the template asks for a CA certificate.
    return r.template_ca_path_length if r.template_is_ca else -1


def _p(name: str, signature: str, getter: Callable[[Any, PropContext], Any], unset: str,
       *fields: str) -> PropDef:
    return PropDef(name, signature, getter, unset, frozenset(fields))


def _s(name: str, attr: str) -> PropDef:
    return _p(name, "s", _field(attr), STR, attr)


def _a(name: str, attr: str) -> PropDef:
    return _p(name, "as", _list(attr), LIST, attr)


def _x(name: str, attr: str) -> PropDef:
    return _p(name, "x", _field(attr), ALWAYS, attr)


def _storage(prefix: str) -> list[PropDef]:
    kind = f"{prefix}_storage_type"
    loc = f"{prefix}_storage_location"
    nick = f"{prefix}_nickname"
    token = f"{prefix}_token"
    return [
        _p(f"{prefix}-storage", "s", _field(kind), ALWAYS, kind),
        _p(f"{prefix}-file", "s", _stored_in(StorageType.FILE, loc, prefix), ALWAYS, kind, loc),
        _p(f"{prefix}-database", "s", _stored_in(StorageType.NSSDB, loc, prefix), ALWAYS,
           kind, loc),
        _p(f"{prefix}-nickname", "s", _stored_in(StorageType.NSSDB, nick, prefix), ALWAYS,
           kind, nick),
        _p(f"{prefix}-token", "s", _stored_in(StorageType.NSSDB, token, prefix), ALWAYS,
           kind, token),
    ]


REQUEST_PROPS: tuple[PropDef, ...] = (
    _s("nickname", "nickname"),
    _p("autorenew", "b", _field("autorenew"), ALWAYS, "autorenew"),
    _s("cert", "cert"),
    _p("cert-chain", "a(ss)", _pairs("cert_chain"), LIST, "cert_chain"),
    _p("cert-roots", "a(ss)", _pairs("cert_roots"), LIST, "cert_roots"),
    _s("issuer", "cert_issuer"),
    _s("serial", "cert_serial"),
    _s("subject", "cert_subject"),
    _x("not-valid-before", "cert_not_before"),
    _x("not-valid-after", "cert_not_after"),
    _a("email", "cert_email"),
    _s("ku", "cert_ku"),
    _a("eku", "cert_eku"),
    _a("hostname", "cert_hostname"),
    _a("principal", "cert_principal"),
    _p("last-checked", "x", lambda r, ctx: ctx.last_checked(r), ALWAYS, "submitted",
       "last_checked"),
    *_storage("cert"),
    _s("cert-owner", "cert_owner"),
    _x("cert-perms", "cert_perms"),
    _s("csr", "csr"),
    _p("key-pin", "s", _field("key_pin"), ALWAYS, "key_pin"),
    _p("key-pin-file", "s", _field("key_pin_file"), ALWAYS, "key_pin_file"),
    _x("key-generated-date", "key_generated_date"),
    _x("key-issued-count", "key_issued_count"),
    _s("template-subject", "template_subject"),
    _a("template-email", "template_email"),
    _s("template-ku", "template_ku"),
    _a("template-eku", "template_eku"),
    _a("template-hostname", "template_hostname"),
    _a("template-principal", "template_principal"),
    _a("template-ip-address", "template_ipaddress"),
    _p("template-is-ca", "b", _field("template_is_ca"), ALWAYS, "template_is_ca"),
    _p("template-ca-path-length", "x", _path_length, ALWAYS, "template_is_ca",
       "template_ca_path_length"),
    _a("template-ocsp", "template_ocsp"),
    _a("template-crldp", "template_crldp"),
    _a("template-freshest-crl", "template_freshest_crl"),
    _s("template-ns-comment", "template_ns_comment"),
    _s("template-profile", "template_profile"),
    _s("template-issuer", "template_issuer"),
    _s("template-ms-certificate-template", "template_certificate_template"),
    _s("template-ns-certtype", "template_ns_certtype"),
    _p("template-challenge-password", "s", _field("template_challenge_password"), ALWAYS,
       "template_challenge_password"),
    _p("template-challenge-password-file", "s", _field("template_challenge_password_file"),
       ALWAYS, "template_challenge_password_file"),
    *_storage("key"),
    _s("key-owner", "key_owner"),
    _x("key-perms", "key_perms"),
    _p("key-type", "s", _key_type, ALWAYS, "key_type"),
    _p("key-size", "x", _key_size, ALWAYS, "key_type", "key_size"),
    _p("monitoring", "b", _field("monitor"), ALWAYS, "monitor"),
    _p("notification-type", "s", _notification_type, ALWAYS, "notification_method"),
    _p("notification-syslog-priority", "s", _notification_for("SYSLOG"), ALWAYS,
       "notification_method", "notification_destination"),
    _p("notification-email", "s", _notification_for("EMAIL"), ALWAYS,
       "notification_method", "notification_destination"),
    _p("notification-command", "s", _notification_for("COMMAND"), ALWAYS,
       "notification_method", "notification_destination"),
    _p("status", "s", lambda r, ctx: str(r.state), ALWAYS, "state"),
    _p("stuck", "b", lambda r, ctx: r.stuck, ALWAYS, "state"),
    _p("ca", "o", _ca_path, PATH, "ca_name"),
    _p("ca-profile", "s", lambda r, ctx: r.cert_profile or r.ca_profile, STR, "cert_profile",
       "ca_profile"),
    _s("nss-user", "nss_user"),
    _a("root-cert-files", "root_cert_files"),
    _a("root-other-cert-files", "other_root_cert_files"),
    _a("other-cert-files", "other_cert_files"),
    _a("root-cert-nssdbs", "root_cert_dbs"),
    _a("root-other-cert-nssdbs", "other_root_cert_dbs"),
    _a("other-cert-nssdbs", "other_cert_dbs"),
    _s("ca-cookie", "ca_cookie"),
    _s("ca-error", "ca_error"),
    _x("submitted-date", "submitted"),
    _s("cert-presave-command", "pre_certsave_command"),
    _s("cert-presave-uid", "pre_certsave_uid"),
    _s("cert-postsave-command", "post_certsave_command"),
    _s("cert-postsave-uid", "post_certsave_uid"),
)

CA_PROPS: tuple[PropDef, ...] = (
    _s("nickname", "nickname"),
    _s("aka", "aka"),
    _p("is-default", "b", _field("is_default"), ALWAYS, "is_default"),
    _p("external-helper", "s",
       lambda ca, ctx: "" if ca.is_internal_self else ca.external_helper, ALWAYS,
       "external_helper", "ca_type"),
    _s("ca-error", "ca_error"),
    _a("issuer-names", "issuer_names"),
    _p("root-certs", "a(ss)", _pairs("root_certs"), LIST, "root_certs"),
    _p("root-other-certs", "a(ss)", _pairs("other_root_certs"), LIST, "other_root_certs"),
    _p("other-certs", "a(ss)", _pairs("other_certs"), LIST, "other_certs"),
    _a("required-enroll-attributes", "required_enroll_attributes"),
    _a("required-renew-attributes", "required_renewal_attributes"),
    _a("supported-profiles", "profiles"),
    _s("default-profile", "default_profile"),
    _a("root-cert-files", "root_cert_files"),
    _a("root-other-cert-files", "other_root_cert_files"),
    _a("other-cert-files", "other_cert_files"),
    _a("root-cert-nssdbs", "root_cert_dbs"),
    _a("root-other-cert-nssdbs", "other_root_cert_dbs"),
    _a("other-cert-nssdbs", "other_cert_dbs"),
    _s("ca-presave-command", "pre_save_command"),
    _s("ca-presave-uid", "pre_save_uid"),
    _s("ca-postsave-command", "post_save_command"),
    _s("ca-postsave-uid", "post_save_uid"),
    _p("scep-cipher", "s", _field("scep_cipher"), ALWAYS, "scep_cipher"),
    _p("scep-digest", "s", _field("scep_digest"), ALWAYS, "scep_digest"),
    _p("scep-ca-identifier", "s", _field("scep_ca_identifier"), ALWAYS, "scep_ca_identifier"),
    _a("scep-ca-capabilities", "capabilities"),
    _s("scep-ra-cert", "encryption_cert"),
    _s("scep-ca-cert", "encryption_issuer_cert"),
    _s("scep-other-certs", "encryption_cert_pool"),
)

REQUEST_PROPS_BY_NAME = {p.name: p for p in REQUEST_PROPS}
CA_PROPS_BY_NAME = {p.name: p for p in CA_PROPS}


def props_for(obj: Request | CA) -> tuple[PropDef, ...]:
    """The property table for a request or a CA."""
    return REQUEST_PROPS if isinstance(obj, Request) else CA_PROPS


def prop_by_name(obj: Request | CA, name: str) -> PropDef | None:
    """One property of a request or CA, or None when there is no such property."""
    table = REQUEST_PROPS_BY_NAME if isinstance(obj, Request) else CA_PROPS_BY_NAME
    return table.get(name)


def get_all(obj: Request | CA, ctx: PropContext) -> dict[str, tuple[str, Any]]:
    """certmonger's GetAll: every property that is set, as name -> (signature, value)."""
    out: dict[str, tuple[str, Any]] = {}
    for prop in props_for(obj):
        value = prop.value(obj, ctx)
        if prop.is_set(value):
            out[prop.name] = (prop.signature, value)
    return out


def affected(obj: Request | CA, fields: Iterable[str]) -> list[PropDef]:
    """The properties computed from any of `fields` (model attribute names), in order."""
    wanted = set(fields)
    return [p for p in props_for(obj) if p.fields & wanted]
