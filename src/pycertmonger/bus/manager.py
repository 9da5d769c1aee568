"""Methods of the manager object `/org/fedorahosted/certmonger` (and our bulk reads)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import DuplicateError, NoSuchEntryError
from ..model import CA, CAType
from . import props, validate
from .calls import EMPTY, Call, Context, Reply, reply, unwrap, variants

SUPPORTED_KEY_TYPES = ["RSA", "EC"]
SUPPORTED_STORAGE = ["NSSDB", "FILE"]


def add_known_ca(ctx: Context, call: Call) -> Reply:
    """Add an EXTERNAL CA run by the helper command line `command`."""
    nickname, command = call.args[0], call.args[1]
    # certmonger also takes the call without its third argument.
    known_names = call.args[2] if call.signature.startswith("ssas") else []
    for other in ctx.engine.cas():
        # certmonger compares CA nicknames case-insensitively here.
        if other.nickname.lower() == nickname.lower():
            raise DuplicateError(f'There is already a CA with the nickname "{other.nickname}".')
    ca = CA(nickname=nickname, ca_type=CAType.EXTERNAL, external_helper=command,
            issuer_names=list(known_names))
    path = ctx.registry.ca_path(ca)  # numbered first: the engine may announce at once
    try:
        ctx.engine.add_ca(ca)
    except Exception:
        ctx.registry.cas.forget(ca)
        raise
    return reply("bo", True, path)


def add_request(ctx: Context, call: Call) -> Reply:
    """Create a request from a template dictionary (checked as certmonger checks it)."""
    request = validate.request_from_template(unwrap(call.args[0]), caller_uid=call.caller_uid,
                                             lookup=ctx, config=ctx.config)
    path = ctx.registry.request_path(request)
    try:
        durable = ctx.engine.add_request(request)
    except Exception:
        ctx.registry.requests.forget(request)
        raise
    out = reply("bo", True, path)
    if durable is not None:
        out.wait = durable
        out.undo = lambda: ctx.registry.requests.forget(request)
    return out


def find_ca_by_nickname(ctx: Context, call: Call) -> Reply:
    """The CA with exactly this nickname; an empty reply when there is none."""
    ca = ctx.engine.ca_by_nickname(call.args[0])
    return reply("o", ctx.registry.ca_path(ca)) if ca is not None else EMPTY


def find_request_by_nickname(ctx: Context, call: Call) -> Reply:
    """The request with exactly this nickname; an empty reply when there is none."""
    request = ctx.engine.request_by_nickname(call.args[0])
    return reply("o", ctx.registry.request_path(request)) if request is not None else EMPTY


def get_known_cas(ctx: Context, call: Call) -> Reply:
    """Every CA's path, in creation order."""
    return reply("ao", [ctx.registry.ca_path(ca) for ca in ctx.engine.cas()])


def get_requests(ctx: Context, call: Call) -> Reply:
    """Every request's path, in load/creation order."""
    return reply("ao", [ctx.registry.request_path(r) for r in ctx.engine.requests()])


def remove_known_ca(ctx: Context, call: Call) -> Reply:
    """Forget a CA (its requests keep its nickname)."""
    ca = ctx.registry.ca_at(call.args[0])
    if ca is None:
        raise NoSuchEntryError()
    ctx.engine.remove_ca(ca)
    ctx.registry.cas.forget(ca)
    return reply("b", True)


def remove_request(ctx: Context, call: Call) -> Reply:
    """Stop tracking a request (its key and certificate files stay)."""
    request = ctx.registry.request_at(call.args[0])
    if request is None:
        raise NoSuchEntryError()
    ctx.engine.remove_request(request)
    ctx.registry.requests.forget(request)
    return reply("b", True)


def get_all_requests_info(ctx: Context, call: Call) -> Reply:
    """pycertmonger's bulk read: every request's GetAll, keyed by path, in one reply."""
    return reply("a{oa{sv}}", {ctx.registry.request_path(r): variants(props.get_all(r, ctx))
                               for r in ctx.engine.requests()})


def get_all_cas_info(ctx: Context, call: Call) -> Reply:
    """pycertmonger's bulk read: every CA's GetAll, keyed by path, in one reply."""
    return reply("a{oa{sv}}", {ctx.registry.ca_path(ca): variants(props.get_all(ca, ctx))
                               for ca in ctx.engine.cas()})


HANDLERS: dict[str, Callable[[Context, Call], Reply]] = {
    "add_known_ca": add_known_ca,
    "add_request": add_request,
    "find_ca_by_nickname": find_ca_by_nickname,
    "find_request_by_nickname": find_request_by_nickname,
    "get_known_cas": get_known_cas,
    "get_requests": get_requests,
    "get_supported_key_types": lambda ctx, call: reply("as", list(SUPPORTED_KEY_TYPES)),
    "get_supported_key_storage": lambda ctx, call: reply("as", list(SUPPORTED_STORAGE)),
    "get_supported_cert_storage": lambda ctx, call: reply("as", list(SUPPORTED_STORAGE)),
    "remove_known_ca": remove_known_ca,
    "remove_request": remove_request,
}

EXTENSION_HANDLERS: dict[str, Callable[[Context, Call], Reply]] = {
    "get_all_requests_info": get_all_requests_info,
    "get_all_cas_info": get_all_cas_info,
}
