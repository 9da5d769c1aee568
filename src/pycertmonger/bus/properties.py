"""`org.freedesktop.DBus.Properties` on the manager, request and CA objects.

certmonger's rules (reference §2.5): an empty interface name means "any"; an unknown
property, or a known one asked for under another interface, is
`org.fedorahosted.certmonger.request.bad_arg` on every object; GetAll for an unknown
interface is `{}`; an unset string answers with no body at all.  Where certmonger sent no
reply (Set of a read-only property or with a value of the wrong type) we send an error.
"""

from __future__ import annotations

from collections.abc import Callable

from dbus_fast import Variant

from ..errors import RequestBadArgError
from ..model import CA, Request
from . import ca as ca_methods
from . import props, validate
from .calls import EMPTY, Call, Context, Reply, reply, unwrap, variants
from .interfaces import CA as CA_INTERFACE
from .interfaces import CA_IFACE, REQUEST_IFACE
from .interfaces import REQUEST as REQUEST_INTERFACE

MSG_UNKNOWN_PROPERTY = "Unrecognized property name."
MSG_READ_ONLY = "Property is read-only."


def _record(ctx: Context, call: Call) -> tuple[Request | CA | None, str]:
    """The object behind the call's path and the interface its properties belong to."""
    request = ctx.registry.request_at(call.path)
    if request is not None:
        return request, REQUEST_INTERFACE
    ca = ctx.registry.ca_at(call.path)
    if ca is not None:
        return ca, CA_INTERFACE
    return None, ""  # the manager: no properties


def _lookup(ctx: Context, call: Call) -> tuple[Request | CA, props.PropDef]:
    interface, name = call.args[0], call.args[1]
    obj, owner = _record(ctx, call)
    prop = None
    if obj is not None and interface in ("", owner):
        prop = props.prop_by_name(obj, name)
    if obj is None or prop is None:
        raise RequestBadArgError(MSG_UNKNOWN_PROPERTY, name)
    return obj, prop


def get(ctx: Context, call: Call) -> Reply:
    """One property; no body when it is an unset string or there is no CA path."""
    obj, prop = _lookup(ctx, call)
    value = prop.value(obj, ctx)
    if prop.unset in (props.STR, props.PATH) and not value:
        return EMPTY
    return reply("v", Variant(prop.signature, value, False))


def get_all(ctx: Context, call: Call) -> Reply:
    """Every set property of the object's interface ({} for any other interface)."""
    obj, owner = _record(ctx, call)
    if obj is None or call.args[0] not in ("", owner):
        return reply("a{sv}", {})
    return reply("a{sv}", variants(props.get_all(obj, ctx)))


def set_(ctx: Context, call: Call) -> Reply:
    """Change a writable property: it is stored, announced, and (for a request) the
    request's work restarts, as after modify."""
    obj, _ = _lookup(ctx, call)
    name = call.args[1]
    declared = (REQUEST_IFACE if isinstance(obj, Request) else CA_IFACE).properties[name]
    if not declared.writable:
        raise RequestBadArgError(MSG_READ_ONLY, name)
    value = unwrap(call.args[2])
    if isinstance(obj, CA):
        ca_methods.set_property(ctx, obj, name, value)
        return EMPTY
    changes = validate.changes_from_modify({name: value}, obj, caller_uid=call.caller_uid,
                                           lookup=ctx, config=ctx.config,
                                           allow_set_only=True)
    ctx.engine.modify_request(obj, changes)
    return EMPTY


HANDLERS: dict[str, Callable[[Context, Call], Reply]] = {
    "Get": get,
    "GetAll": get_all,
    "Set": set_,
}
