"""Methods of CA objects `/org/fedorahosted/certmonger/cas/CA<N>`, and their writable
properties."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import RequestBadArgError
from ..model import CA
from .calls import EMPTY, Call, Context, Reply, reply


def _ca(ctx: Context, call: Call) -> CA:
    ca = ctx.registry.ca_at(call.path)
    assert ca is not None  # the dispatcher only routes calls for existing objects
    return ca


def get_config_file_path(ctx: Context, call: Call) -> Reply:
    """The CA's record file."""
    ca = _ca(ctx, call)
    return reply("s", str(ctx.engine.paths.cas_dir / ca.store_name) if ca.store_name else "")


def get_serial(ctx: Context, call: Call) -> Reply:
    """The self-signer's next serial number; an empty reply for every other CA."""
    ca = _ca(ctx, call)
    return reply("s", ca.internal_serial) if ca.is_internal_self else EMPTY


HANDLERS: dict[str, Callable[[Context, Call], Reply]] = {
    "get_config_file_path": get_config_file_path,
    "get_nickname": lambda ctx, call: reply("s", _ca(ctx, call).nickname),
    "get_is_default": lambda ctx, call: reply("b", _ca(ctx, call).is_default),
    "get_type": lambda ctx, call: reply("s", _ca(ctx, call).ca_type),
    "get_serial": get_serial,
    "get_location": lambda ctx, call: reply("s", _ca(ctx, call).external_helper),
    "get_issuer_names": lambda ctx, call: reply("as", list(_ca(ctx, call).issuer_names)),
    "refresh": lambda ctx, call: reply("b", bool(ctx.engine.refresh_ca(_ca(ctx, call)))),
}

# Writable CA properties: D-Bus value kind and model attribute.
SETTABLE: dict[str, tuple[type, str]] = {
    "is-default": (bool, "is_default"),
    "external-helper": (str, "external_helper"),
    "root-cert-files": (list, "root_cert_files"),
    "root-other-cert-files": (list, "other_root_cert_files"),
    "other-cert-files": (list, "other_cert_files"),
    "root-cert-nssdbs": (list, "root_cert_dbs"),
    "root-other-cert-nssdbs": (list, "other_root_cert_dbs"),
    "other-cert-nssdbs": (list, "other_cert_dbs"),
    "scep-cipher": (str, "scep_cipher"),
    "scep-digest": (str, "scep_digest"),
    "scep-ca-identifier": (str, "scep_ca_identifier"),
}


def set_property(ctx: Context, ca: CA, name: str, value: Any) -> None:
    """Properties.Set on a CA.

    Making one CA the default takes the flag from any other (certmonger 0.79.17 crashed
    here instead).  The helper of the self-signer cannot be set, as in certmonger.
    """
    kind, attr = SETTABLE[name]
    stored: Any
    if isinstance(value, list) and kind is list and all(isinstance(v, str) for v in value):
        stored = list(value)
    elif kind is not list and isinstance(value, kind):
        stored = value
    else:
        raise RequestBadArgError("Unrecognized parameter or wrong value type.", name)
    if name == "external-helper" and ca.is_internal_self:
        return
    if name == "is-default" and value:
        for other in ctx.engine.cas():
            if other is not ca and other.is_default:
                ctx.engine.modify_ca(other, {"is_default": False})
    ctx.engine.modify_ca(ca, {attr: stored})
