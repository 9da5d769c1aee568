"""Methods of request objects `/org/fedorahosted/certmonger/requests/Request<N>`.

The getters answer the way certmonger 0.79.17 does, because getcert reads the shape of
the reply: no body at all for an unset cookie, CA error, CSR or submission date, and two
strings (FILE) or up to four (NSSDB) from the storage-info calls although introspection
declares three.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import Request, StorageType
from . import validate
from .calls import EMPTY, Call, Context, Reply, reply, unwrap
from .props import ku_bits_to_int


def _request(ctx: Context, call: Call) -> Request:
    request = ctx.registry.request_at(call.path)
    assert request is not None  # the dispatcher only routes calls for existing objects
    return request


def _storage_info(kind: str, location: str, nickname: str, token: str) -> Reply:
    """("NONE"), ("FILE", path) or ("NSSDB", dir[, nickname[, token]])."""
    if kind == StorageType.NONE:
        return reply("s", "NONE")
    if kind == StorageType.NSSDB:
        if token:
            return reply("ssss", "NSSDB", location, nickname, token)
        if nickname:
            return reply("sss", "NSSDB", location, nickname)
        return reply("ss", "NSSDB", location)
    return reply("ss", "FILE", location)


def get_cert_storage_info(ctx: Context, call: Call) -> Reply:
    """Where the certificate is kept."""
    r = _request(ctx, call)
    return _storage_info(r.cert_storage_type, r.cert_storage_location, r.cert_nickname,
                         r.cert_token)


def get_key_storage_info(ctx: Context, call: Call) -> Reply:
    """Where the key is kept."""
    r = _request(ctx, call)
    return _storage_info(r.key_storage_type, r.key_storage_location, r.key_nickname,
                         r.key_token)


def get_cert_info(ctx: Context, call: Call) -> Reply:
    """The certificate's details (empty values when there is none yet)."""
    r = _request(ctx, call)
    return reply("sssxasasasxasx", r.cert_issuer, r.cert_serial, r.cert_subject,
                 r.cert_not_after, list(r.cert_email), list(r.cert_hostname),
                 list(r.cert_principal), ku_bits_to_int(r.cert_ku), list(r.cert_eku),
                 r.cert_not_before)


def get_csr_info(ctx: Context, call: Call) -> Reply:
    """What the CSR asks for (from the template); an empty reply before there is a CSR."""
    r = _request(ctx, call)
    if not r.csr:
        return EMPTY
    return reply("sasasasxas", r.template_subject, list(r.template_email),
                 list(r.template_hostname), list(r.template_principal),
                 ku_bits_to_int(r.template_ku), list(r.template_eku))


def get_key_type_and_size(ctx: Context, call: Call) -> Reply:
    """The current key's type ("UNKNOWN" before it has been read) and size."""
    r = _request(ctx, call)
    kind = "UNKNOWN" if r.key_type in ("", "UNSPECIFIED") else r.key_type
    return reply("sx", kind, r.key_size)


_NOTIFY_METHODS = {"mail": "email", "mailto": "email"}


def get_notification_info(ctx: Context, call: Call) -> Reply:
    """How expiry is announced: the request's own setting, else certmonger.conf's."""
    r = _request(ctx, call)
    method = r.notification_method or ctx.config.notification_method
    destination = r.notification_destination or ctx.config.notification_destination
    return reply("ss", _NOTIFY_METHODS.get(method.lower(), method.lower()), destination)


def get_ca(ctx: Context, call: Call) -> Reply:
    """The CA's path; an empty reply when the request has no (known) CA."""
    path = ctx.ca_path_by_nickname(_request(ctx, call).ca_name)
    return reply("o", path) if path else EMPTY


def _string_or_nothing(attr: str) -> Callable[[Context, Call], Reply]:
    def get(ctx: Context, call: Call) -> Reply:
        value = getattr(_request(ctx, call), attr)
        return reply("s", value) if value else EMPTY
    return get


def _time_or_nothing(get_value: Callable[[Context, Request], int]) -> Callable[[Context, Call],
                                                                               Reply]:
    def get(ctx: Context, call: Call) -> Reply:
        value = get_value(ctx, _request(ctx, call))
        return reply("x", value) if value else EMPTY
    return get


def _plain(signature: str, read: Callable[[Request], object]) -> Callable[[Context, Call],
                                                                          Reply]:
    return lambda ctx, call: reply(signature, read(_request(ctx, call)))


def modify(ctx: Context, call: Call) -> Reply:
    """Change the request; all of the changes or (on any error) none of them."""
    request = _request(ctx, call)
    changes = validate.changes_from_modify(unwrap(call.args[0]), request,
                                           caller_uid=call.caller_uid, lookup=ctx,
                                           config=ctx.config)
    ctx.engine.modify_request(request, changes)
    return reply("bo", True, call.path)


HANDLERS: dict[str, Callable[[Context, Call], Reply]] = {
    "get_nickname": _plain("s", lambda r: r.nickname),
    "get_autorenew": _plain("b", lambda r: r.autorenew),
    "get_cert_data": _string_or_nothing("cert"),
    "get_cert_info": get_cert_info,
    "get_cert_last_checked": _time_or_nothing(lambda ctx, r: ctx.last_checked(r)),
    "get_cert_storage_info": get_cert_storage_info,
    "get_csr_data": _string_or_nothing("csr"),
    "get_csr_info": get_csr_info,
    "get_key_pin": _plain("s", lambda r: r.key_pin),
    "get_key_pin_file": _plain("s", lambda r: r.key_pin_file),
    "get_key_storage_info": get_key_storage_info,
    "get_key_type_and_size": get_key_type_and_size,
    "get_monitoring": _plain("b", lambda r: r.monitor),
    "get_notification_info": get_notification_info,
    "get_status": lambda ctx, call: reply("sb", str(_request(ctx, call).state),
                                          _request(ctx, call).stuck),
    "get_ca": get_ca,
    "get_submitted_cookie": _string_or_nothing("ca_cookie"),
    "get_ca_error": _string_or_nothing("ca_error"),
    "get_submitted_date": _time_or_nothing(lambda ctx, r: r.submitted),
    "modify": modify,
    "rekey": lambda ctx, call: reply("b", bool(ctx.engine.rekey(_request(ctx, call)))),
    "resubmit": lambda ctx, call: reply("b", bool(ctx.engine.resubmit(_request(ctx, call)))),
    "refresh": lambda ctx, call: reply("b", bool(ctx.engine.refresh(_request(ctx, call)))),
}
