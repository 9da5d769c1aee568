"""Checking `add_request` templates and `modify` updates, the way certmonger checks them.

Both take the call's dictionary as plain Python values (D-Bus variants unwrapped) and
either return what to store or raise the error certmonger would send, with its message
and argument names.  Nothing here touches the bus or the engine: other requests and the
CAs come through a small `Lookup`, and file-system checks through a `FileSystem`.

certmonger's dictionary rules: key names match case-insensitively and the last match
wins; where a key has two spellings the legacy UPPERCASE one is tried first; a string and
an object path are interchangeable; an entry whose value has another type counts as
absent (add_request) or is refused (modify).  Any D-Bus integer type is accepted where a
number is expected.  Storage locations are checked by `bus.locations`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import Config
from ..errors import BadArgError, DuplicateError, MissingArgError, RequestBadArgError
from ..model import CA, Request, State, StorageType
from .locations import (
    LOCAL_FS,
    FileSystem,
    canonical_nss_location,
    check_absolute,
    check_file_location,
    check_nss_location,
)

DEFAULT_NSS_TOKEN = "NSS Certificate DB"
MIN_RSA_KEY_SIZE = 1024
MIN_EC_KEY_SIZE = 256
DEFAULT_EC_KEY_SIZE = 256

# certmonger's messages, word for word.
MSG_DUP_NICKNAME = 'There is already a request with the nickname "{}".'
MSG_DUP_CERT = 'Certificate at same location is already used by request with nickname "{}".'
MSG_DUP_KEY = 'Key at same location is already used by request with nickname "{}".'
MSG_BAD_MS_TEMPLATE = "Invalid V2 certificate template specifier: {}"
MSG_BAD_KEY_TYPE = 'No support for key type "{}".'
MSG_UNKNOWN_MODIFY = "Unrecognized parameter or wrong value type."


class Lookup(Protocol):
    """The other records a check needs to see."""

    def requests(self) -> Iterable[Request]:
        """Every existing request."""

    def ca_at(self, path: str) -> CA | None:
        """The CA whose object path is `path`, if any."""




# -- reading the dictionary ----------------------------------------------------------------


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "s":
        return isinstance(value, str)
    if kind == "b":
        return isinstance(value, bool)
    if kind == "n":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "as":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise AssertionError(kind)


def _find(values: Mapping[str, Any], kind: str, *names: str) -> tuple[bool, Any]:
    """certmonger's dictionary lookup: the first spelling that has an entry of the right
    type, matched case-insensitively, the last such entry winning."""
    for name in names:
        lowered = name.lower()
        found, result = False, None
        for key, value in values.items():
            if key.lower() == lowered and _is_kind(value, kind):
                found, result = True, value
        if found:
            return True, result
    return False, None


def _str(values: Mapping[str, Any], *names: str) -> str | None:
    found, value = _find(values, "s", *names)
    return value if found else None


# -- single values --------------------------------------------------------------------------

_OID = re.compile(r"^[0-9.]*[0-9][0-9.]*$")
_NUMBER = re.compile(r"^\s*[+-]?[0-9]*$")


def valid_ms_template_spec(spec: str) -> bool:
    """A Microsoft V2 certificate-template specifier `OID:major[:minor]`.

    certmonger reads the numbers with strtol (leading blanks and a sign allowed, base 10)
    and wants the OID's first arc to be 0, 1 or 2.
    """
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not _OID.match(parts[0]):
        return False
    first = next(arc for arc in parts[0].split(".") if arc)
    if int(first) > 2:
        return False
    return all(_NUMBER.match(p) for p in parts[1:])


def check_ms_template(spec: str) -> None:
    """Raise certmonger's error for a bad V2 template specifier ("" means none)."""
    if spec and not valid_ms_template_spec(spec):
        raise BadArgError(MSG_BAD_MS_TEMPLATE.format(spec), "template-ms-certificate-template")


def key_type_name(text: str) -> str:
    """`RSA` or `EC` for a requested key type (EC and ECDSA in any case)."""
    upper = text.upper()
    if upper == "RSA":
        return "RSA"
    if upper in ("EC", "ECDSA"):
        return "EC"
    raise BadArgError(MSG_BAD_KEY_TYPE.format(text), "KEY_TYPE")


def key_size_for(key_type: str, size: int | None, config: Config) -> int:
    """The size to generate: the default when none is given, raised to the minimum."""
    if key_type == "EC":
        return max(size or DEFAULT_EC_KEY_SIZE, MIN_EC_KEY_SIZE)
    return max(size or config.rsa_key_size, MIN_RSA_KEY_SIZE)


def default_nickname(taken: Iterable[str], now: float | None = None) -> str:
    """certmonger's generated nickname: the local time as YYYYMMDDHHMMSS, a later second
    when that one is taken."""
    used = {name.lower() for name in taken}
    when = int(time.time() if now is None else now)
    while True:
        name = time.strftime("%Y%m%d%H%M%S", time.localtime(when))
        if name not in used:
            return name
        when += 1


def _uid_text(caller_uid: int | None) -> str:
    if caller_uid is None:
        raise ValueError("the caller's UID is needed to store a command")
    return str(caller_uid)


def _same_nickname(a: str, b: str) -> bool:
    # certmonger compares request nicknames with strcasecmp.
    return a.lower() == b.lower()


# -- add_request ----------------------------------------------------------------------------

_CA_BUNDLES = (
    # (D-Bus key, model attribute, is an NSS database) in certmonger's checking order
    ("root-cert-nssdbs", "root_cert_dbs", True),
    ("root-cert-files", "root_cert_files", False),
    ("root-other-cert-nssdbs", "other_root_cert_dbs", True),
    ("root-other-cert-files", "other_root_cert_files", False),
    ("other-cert-nssdbs", "other_cert_dbs", True),
    ("other-cert-files", "other_cert_files", False),
)

# (legacy key, property key, model attribute, kind) copied as they are, in add_request.
_TEMPLATE_KEYS = (
    ("SUBJECT", "template-subject", "template_subject", "s"),
    ("KU", "template-ku", "template_ku", "s"),
    ("EKU", "template-eku", "template_eku", "as"),
    ("PRINCIPAL", "template-principal", "template_principal", "as"),
    ("DNS", "template-hostname", "template_hostname", "as"),
    ("EMAIL", "template-email", "template_email", "as"),
    (None, "template-ip-address", "template_ipaddress", "as"),
    (None, "template-is-ca", "template_is_ca", "b"),
    (None, "template-ca-path-length", "template_ca_path_length", "n"),
    (None, "template-ocsp", "template_ocsp", "as"),
    (None, "template-crldp", "template_crldp", "as"),
    (None, "template-ns-comment", "template_ns_comment", "s"),
    (None, "template-profile", "template_profile", "s"),
    (None, "template-issuer", "template_issuer", "s"),
    (None, "template-challenge-password", "template_challenge_password", "s"),
    (None, "key-owner", "key_owner", "s"),
    (None, "cert-owner", "cert_owner", "s"),
    (None, "key-perms", "key_perms", "n"),
    (None, "cert-perms", "cert_perms", "n"),
    (None, "nss-user", "nss_user", "s"),
)


def request_from_template(values: Mapping[str, Any], *, caller_uid: int | None, lookup: Lookup,
                          config: Config, now: float | None = None,
                          fs: FileSystem = LOCAL_FS) -> Request:
    """A new request from an `add_request` dictionary, checked in certmonger's order.

    Raises the first problem certmonger would report; nothing is created then.
    `caller_uid` must be known when the template sets a pre- or post-save command.
    """
    existing = list(lookup.requests())
    r = Request()

    # Certificate storage type.
    kind = _str(values, "CERT_STORAGE", "cert-storage")
    if kind is None:
        raise MissingArgError("Certificate storage type not specified.", "CERT_STORAGE")
    if kind.upper() not in (StorageType.FILE, StorageType.NSSDB):
        raise BadArgError(f'Certificate storage type "{kind}" not supported.', "CERT_STORAGE")
    r.cert_storage_type = kind.upper()

    # A PIN, or the file holding it (the file wins when both are given).
    pin = _str(values, "KEY_PIN", "key-pin")
    if pin:
        r.key_pin = pin
    pin_file = _str(values, "KEY_PIN_FILE", "key-pin-file")
    if pin_file:
        check_absolute(pin_file, "KEY_PIN_FILE")
        r.key_pin_file, r.key_pin = pin_file, ""

    # Where the certificate goes.
    if r.cert_storage_type == StorageType.FILE:
        location = _str(values, "CERT_LOCATION", "cert-file")
        if location is None:
            raise MissingArgError("Certificate storage location not specified.",
                                  "CERT_LOCATION")
        check_file_location(location, "CERT_LOCATION", fs)
        r.cert_storage_location = location
    else:
        location = _str(values, "CERT_LOCATION", "cert-database")
        if location is None:
            raise MissingArgError("Certificate storage location not specified.",
                                  "CERT_LOCATION")
        check_nss_location(location, "CERT_LOCATION", fs)
        r.cert_storage_location = canonical_nss_location(location)
        nickname = _str(values, "CERT_NICKNAME", "cert-nickname")
        if nickname is None:
            raise MissingArgError("Certificate nickname not specified.", "CERT_NICKNAME")
        r.cert_nickname = nickname
        r.cert_token = _str(values, "CERT_TOKEN", "cert-token") or DEFAULT_NSS_TOKEN

    # The request's own nickname must be new (compared case-insensitively).
    wanted = _str(values, "NICKNAME", "nickname")
    if wanted is not None:
        for other in existing:
            if _same_nickname(other.nickname, wanted):
                raise DuplicateError(MSG_DUP_NICKNAME.format(other.nickname), "NICKNAME")

    # Nobody else may track the same certificate.
    for other in existing:
        if other.cert_storage_type == r.cert_storage_type and \
                other.cert_storage_location == r.cert_storage_location and \
                (r.cert_storage_type == StorageType.FILE
                 or other.cert_nickname == r.cert_nickname):
            names = ["CERT_LOCATION"]
            if r.cert_storage_type == StorageType.NSSDB:
                names.append("CERT_NICKNAME")
            raise DuplicateError(MSG_DUP_CERT.format(other.nickname), *names)

    _key_storage(values, r, existing, fs)

    # Where the CA's certificates go.
    for key, attr, is_db in _CA_BUNDLES:
        found, items = _find(values, "as", key)
        if not found:
            continue
        for item in items:
            if is_db:
                check_nss_location(item, key, fs)
            else:
                check_file_location(item, key, fs)
        setattr(r, attr, list(items))

    for key, attr in (("cert-presave-command", "pre_certsave_command"),
                      ("cert-postsave-command", "post_certsave_command")):
        command = _str(values, key)
        if command is not None:
            setattr(r, attr, command)
            # The command runs as whoever asked for it.
            setattr(r, attr.replace("command", "uid"), _uid_text(caller_uid))

    r.nickname = wanted if wanted is not None else default_nickname(
        (o.nickname for o in existing), now)

    # Key type and size.
    requested_type = _str(values, "KEY_TYPE", "key-type")
    key_type = key_type_name(requested_type) if requested_type is not None else config.key_type
    found, size = _find(values, "n", "KEY_SIZE", "key-size")
    r.key_gen_type = r.key_next_gen_type = key_type
    r.key_gen_size = r.key_next_gen_size = key_size_for(key_type, size if found else None,
                                                        config)

    # The CA, given as its object path.
    ca_path = _str(values, "CA", "ca")
    if ca_path is not None:
        ca = lookup.ca_at(ca_path)
        if ca is None:
            raise BadArgError("No such CA.", "CA")
        r.ca_name = ca.nickname
    else:
        r.ca_name = config.default_ca

    profile = _str(values, "ca-profile")
    if profile is not None:
        r.template_profile = profile
    found, track = _find(values, "b", "TRACK", "monitoring")
    r.monitor = track if found else True
    found, renew = _find(values, "b", "RENEW", "autorenew")
    r.autorenew = renew if found else True

    for legacy, key, attr, kind_ in _TEMPLATE_KEYS:
        spellings = (legacy, key) if legacy else (key,)
        found, value = _find(values, kind_, *spellings)
        if found:
            setattr(r, attr, list(value) if kind_ == "as" else value)

    spec = _str(values, "template-ms-certificate-template")
    if spec is not None:
        check_ms_template(spec)
        r.template_certificate_template = spec
    password_file = _str(values, "template-challenge-password-file")
    if password_file:
        check_absolute(password_file, "template-challenge-password-file")
        r.template_challenge_password_file = password_file

    r.state = State.NEWLY_ADDED
    return r


def _key_storage(values: Mapping[str, Any], r: Request, existing: list[Request],
                 fs: FileSystem) -> None:
    """Key storage type and location, and that no other request uses the same key."""
    kind = _str(values, "KEY_STORAGE", "key-storage")
    if kind is None:
        r.key_storage_type = StorageType.NONE
        return
    if kind.upper() not in (StorageType.FILE, StorageType.NSSDB, StorageType.NONE):
        raise BadArgError(f'Key storage type "{kind}" not supported.', "KEY_STORAGE")
    r.key_storage_type = kind.upper()
    if r.key_storage_type == StorageType.NONE:
        return
    if r.key_storage_type == StorageType.FILE:
        location = _str(values, "KEY_LOCATION", "key-file")
        if location is None:
            raise MissingArgError("Key storage location not specified.", "KEY_LOCATION")
        check_file_location(location, "KEY_LOCATION", fs)
        r.key_storage_location = location
    else:
        location = _str(values, "KEY_LOCATION", "key-database")
        if location is None:
            raise MissingArgError("Key storage location not specified.", "KEY_LOCATION")
        check_nss_location(location, "KEY_LOCATION", fs, access_message=False)
        r.key_storage_location = canonical_nss_location(location)
        nickname = _str(values, "KEY_NICKNAME", "key-nickname")
        if nickname is None:
            raise MissingArgError("Key nickname not specified.", "KEY_NICKNAME")
        r.key_nickname = nickname
        r.key_token = _str(values, "KEY_TOKEN", "key-token") or DEFAULT_NSS_TOKEN
    for other in existing:
        if other.key_storage_type == r.key_storage_type and \
                other.key_storage_location == r.key_storage_location and \
                (r.key_storage_type == StorageType.FILE
                 or other.key_nickname == r.key_nickname):
            names = ["KEY_LOCATION"]
            if r.key_storage_type == StorageType.NSSDB:
                names.append("KEY_NICKNAME")
            raise DuplicateError(MSG_DUP_KEY.format(other.nickname), *names)


# -- modify ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModifyKey:
    """One key modify understands: its value kind and the model attribute it sets."""

    kind: str
    attr: str
    set_only: bool = False  # writable through Properties.Set, refused by modify


def _modify_keys() -> dict[str, _ModifyKey]:
    plain = {
        "autorenew": ("b", "autorenew"), "renew": ("b", "autorenew"),
        "monitoring": ("b", "monitor"), "track": ("b", "monitor"),
        "ca-profile": ("s", "template_profile"),
        "subject": ("s", "template_subject"), "template-subject": ("s", "template_subject"),
        "ku": ("s", "template_ku"), "template-ku": ("s", "template_ku"),
        "eku": ("as", "template_eku"), "template-eku": ("as", "template_eku"),
        "principal": ("as", "template_principal"),
        "template-principal": ("as", "template_principal"),
        "dns": ("as", "template_hostname"), "template-hostname": ("as", "template_hostname"),
        "email": ("as", "template_email"), "template-email": ("as", "template_email"),
        "template-ip-address": ("as", "template_ipaddress"),
        "template-is-ca": ("b", "template_is_ca"),
        "template-ca-path-length": ("n", "template_ca_path_length"),
        "template-ocsp": ("as", "template_ocsp"),
        "template-crldp": ("as", "template_crldp"),
        "template-ns-comment": ("s", "template_ns_comment"),
        "template-profile": ("s", "template_profile"),
        "template-issuer": ("s", "template_issuer"),
        "template-ms-certificate-template": ("s", "template_certificate_template"),
        "template-challenge-password": ("s", "template_challenge_password"),
        "template-challenge-password-file": ("s", "template_challenge_password_file"),
        "root-cert-files": ("as", "root_cert_files"),
        "root-other-cert-files": ("as", "other_root_cert_files"),
        # certmonger 0.79.17 stores this one in the other-cert-nssdbs slot (a bug).
        "other-cert-files": ("as", "other_cert_files"),
        "root-cert-nssdbs": ("as", "root_cert_dbs"),
        "root-other-cert-nssdbs": ("as", "other_root_cert_dbs"),
        "other-cert-nssdbs": ("as", "other_cert_dbs"),
        "key-owner": ("s", "key_owner"), "cert-owner": ("s", "cert_owner"),
        "key-perms": ("n", "key_perms"), "cert-perms": ("n", "cert_perms"),
        "nss-user": ("s", "nss_user"),
        "nickname": ("s", "nickname"), "ca": ("s", "ca_name"),
        "key_pin": ("s", "key_pin"), "key-pin": ("s", "key_pin"),
        "key_pin_file": ("s", "key_pin_file"), "key-pin-file": ("s", "key_pin_file"),
        "key_type": ("s", "key_gen_type"), "key-type": ("s", "key_gen_type"),
        "key_size": ("n", "key_gen_size"), "key-size": ("n", "key_gen_size"),
        "cert-presave-command": ("s", "pre_certsave_command"),
        "cert-postsave-command": ("s", "post_certsave_command"),
    }
    keys = {name: _ModifyKey(kind, attr) for name, (kind, attr) in plain.items()}
    keys["template-freshest-crl"] = _ModifyKey("as", "template_freshest_crl", set_only=True)
    keys["template-ns-certtype"] = _ModifyKey("s", "template_ns_certtype", set_only=True)
    return keys


MODIFY_KEYS = _modify_keys()


def changes_from_modify(values: Mapping[str, Any], request: Request, *,
                        caller_uid: int | None,
                        lookup: Lookup, config: Config,
                        allow_set_only: bool = False) -> dict[str, Any]:
    """The model changes a `modify` dictionary asks for (attribute name -> new value).

    Everything is checked before anything is returned, so a bad key leaves the request
    untouched (certmonger 0.79.17 applied the keys before the bad one).  A new nickname
    equal to the request's own is not a duplicate.  `allow_set_only` also accepts the
    writable properties that modify itself refuses (for `Properties.Set`).
    """
    wanted = _str(values, "NICKNAME", "nickname")
    if wanted is not None:
        for other in lookup.requests():
            if other is not request and _same_nickname(other.nickname, wanted):
                raise DuplicateError(MSG_DUP_NICKNAME.format(other.nickname), "NICKNAME")
    ca_path = _str(values, "CA", "ca")
    ca = None
    if ca_path is not None:
        ca = lookup.ca_at(ca_path)
        if ca is None:
            raise BadArgError(f'Certificate authority "{ca_path}" not known.', "CA")

    changes: dict[str, Any] = {}
    new_type: str | None = None
    new_size: int | None = None
    for key, value in values.items():
        spec = MODIFY_KEYS.get(key.lower())
        if spec is None or (spec.set_only and not allow_set_only) or \
                not _is_kind(value, spec.kind):
            raise RequestBadArgError(MSG_UNKNOWN_MODIFY, key)
        name = key.lower()
        if spec.attr == "ca_name":
            assert ca is not None
            changes["ca_name"] = ca.nickname
        elif spec.attr == "key_pin":
            changes.update(key_pin=value, key_pin_file="")
        elif spec.attr == "key_pin_file":
            if value:
                check_absolute(value, "KEY_PIN_FILE")
            changes.update(key_pin_file=value, key_pin="")
        elif spec.attr == "key_gen_type":
            new_type = key_type_name(value)
        elif spec.attr == "key_gen_size":
            new_size = value
        elif name == "template-ms-certificate-template":
            check_ms_template(value)
            changes[spec.attr] = value
        elif name == "template-challenge-password-file":
            if value:
                check_absolute(value, "template-challenge-password-file")
            changes[spec.attr] = value
        elif spec.attr in ("pre_certsave_command", "post_certsave_command"):
            changes[spec.attr] = value
            changes[spec.attr.replace("command", "uid")] = _uid_text(caller_uid) if value else ""
        elif spec.kind == "as":
            changes[spec.attr] = list(value)
        else:
            changes[spec.attr] = value
    if new_type is not None or new_size is not None:
        key_type = new_type or request.key_gen_type
        if new_size is None and key_type == request.key_gen_type:
            new_size = request.key_gen_size
        size = key_size_for(key_type, new_size, config)
        changes.update(key_gen_type=key_type, key_next_gen_type=key_type,
                       key_gen_size=size, key_next_gen_size=size)
    return changes
