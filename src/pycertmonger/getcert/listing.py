"""`getcert list` and `getcert list-cas`: gather from the bus, print with `output`.

The selection rules are the stock client's, quirks included: the header counts every
request whatever the filters; ``-c`` and ``-i`` must name something that exists
(compared ignoring case) but then filter with exact comparisons; states the client
does not know are reported as invalid instead of listed. The reads for one request
are made concurrently, which changes nothing in the output but a lot in the time
a long listing takes.
"""

from __future__ import annotations

import asyncio
import json

from pycertmonger.getcert import commands, output, states
from pycertmonger.getcert.bus import CA_INTERFACE, REQUEST_INTERFACE, CertmongerBus
from pycertmonger.getcert.context import Context

# How many requests `list` reads at once.
LIST_CONCURRENCY = 32

_REQUEST_STRINGS = ("ca-profile", "template-profile", "template-ms-certificate-template",
                    "template-issuer", "cert-presave-command", "cert-postsave-command")
_FILE_LISTS = ("root-cert-files", "root-other-cert-files", "other-cert-files",
               "root-cert-nssdbs", "root-other-cert-nssdbs", "other-cert-nssdbs")


class _ScepCache:
    # Whether a CA is an SCEP CA (it has an RA or CA certificate), asked once per CA.
    def __init__(self, bus: CertmongerBus) -> None:
        self._bus = bus
        self._known: dict[str, bool] = {}

    async def is_scep(self, ca_path: str) -> bool:
        if ca_path not in self._known:
            ra, ca = await asyncio.gather(
                self._bus.get_string_property(ca_path, CA_INTERFACE, "scep-ra-cert"),
                self._bus.get_string_property(ca_path, CA_INTERFACE, "scep-ca-cert"))
            self._known[ca_path] = bool(ra or ca)
        return self._known[ca_path]


async def _request_view(bus: CertmongerBus, path: str, nickname: str, state: str,
                        stuck: bool, ca_path: str | None, ca_name: str | None,
                        scep: _ScepCache) -> output.RequestView:
    ca_error, key, cert, info = await asyncio.gather(
        bus.request_ca_error(path), bus.key_storage(path), bus.cert_storage(path),
        bus.cert_info(path))
    pin, pin_file = await asyncio.gather(bus.key_pin(path), bus.key_pin_file(path))
    monitoring, autorenew = await asyncio.gather(bus.monitoring(path), bus.autorenew(path))
    strings = await asyncio.gather(*(bus.get_string_property(path, REQUEST_INTERFACE, name)
                                     for name in _REQUEST_STRINGS))
    text = dict(zip(_REQUEST_STRINGS, strings, strict=True))
    ip_address, *files = await asyncio.gather(
        *(bus.get_strings_property(path, REQUEST_INTERFACE, name)
          for name in ("template-ip-address", *_FILE_LISTS)))
    csr = None
    if ca_path is not None and ca_name is not None and await scep.is_scep(ca_path):
        csr = await bus.get_string_property(path, REQUEST_INTERFACE, "csr")
    return output.RequestView(
        nickname=nickname, status=state, stuck=stuck, ca_error=ca_error, key=key,
        key_pin=pin, key_pin_file=pin_file, cert=cert, csr=csr, ca=ca_name, info=info,
        template_ip_address=ip_address, ca_profile=text["ca-profile"],
        root_cert_files=files[0], root_other_cert_files=files[1],
        other_cert_files=files[2], root_cert_nssdbs=files[3],
        root_other_cert_nssdbs=files[4], other_cert_nssdbs=files[5],
        template_profile=text["template-profile"],
        template_ms_certificate_template=text["template-ms-certificate-template"],
        template_issuer=text["template-issuer"],
        presave_command=text["cert-presave-command"],
        postsave_command=text["cert-postsave-command"],
        monitoring=monitoring, autorenew=autorenew)


async def list_requests(ctx: Context) -> int:
    """`getcert list`."""
    s = ctx.settings
    commands.check_extra_args(ctx)
    only_ca = ctx.ca
    if only_ca is not None:
        await ctx.ca_path()
    if s.id is not None:
        if await ctx.find_request_by_name(s.id) is None:
            raise ctx.fail("No request found with specified nickname.")
    elif ((s.dbdir is not None and s.nickname is not None) or s.certfile is not None) and (
            await ctx.find_request_by_storage(s.dbdir, s.nickname, None, s.certfile) is None):
        # (The stock client also walks the requests when there is nothing to look for.)
        raise ctx.fail("No request found that matched arguments.")
    bus = await ctx.bus()
    requests = await bus.get_requests()
    if not s.json:
        ctx.console.write(output.format_list_header(len(requests)))
    scep = _ScepCache(bus)
    ca_names: dict[str, str | None] = {}
    limit = asyncio.Semaphore(LIST_CONCURRENCY)

    async def one(path: str) -> str | output.RequestView | None:
        # A request's view, the "invalid state" line, or None when filtered out.
        async with limit:
            ca_name = None
            ca_path = await bus.request_ca(path)
            if ca_path is not None:
                if ca_path not in ca_names:
                    ca_names[ca_path] = await bus.ca_nickname(ca_path)
                ca_name = ca_names[ca_path]
            if only_ca is not None and ca_name != only_ca:
                return None
            state, stuck = await bus.request_status(path)
            if not states.known_state(state):
                return output.invalid_state_line(state)
            tracked = states.is_tracked(state)
            if (s.tracking_only and not tracked) or (s.requests_only and tracked):
                return None
            nickname = await bus.request_nickname(path) or ""
            if s.id is not None and nickname != s.id:
                return None
            if not await commands.storage_matches(ctx, path, strict_location=False):
                return None
            return await _request_view(bus, path, nickname, state, stuck, ca_path, ca_name,
                                       scep)

    # Requests are read concurrently but reported in the daemon's order.
    results = await asyncio.gather(*(one(path) for path in requests))
    if s.json:
        found = [output.request_json(r) for r in results if isinstance(r, output.RequestView)]
        ctx.console.write(json.dumps(found, indent=2) + "\n")
        return 0
    for result in results:
        if isinstance(result, str):
            ctx.console.write(result)
        elif result is not None:
            ctx.console.write(output.format_request(result, utc=s.utc))
    return 0


async def _ca_view(bus: CertmongerBus, path: str, nickname: str | None, verbose: bool,
                   with_extras: bool) -> output.CAView:
    ca_type = await bus.ca_type(path)
    external = ca_type == "EXTERNAL"
    is_default, where, issuers = await asyncio.gather(
        bus.ca_is_default(path), bus.ca_location(path) if external else bus.ca_serial(path),
        bus.ca_issuer_names(path))
    # certmonger's client reads default-profile as a list here (and so never prints
    # "known profiles"); the supported ones are shown only in JSON.
    profiles = await bus.get_strings_property(path, CA_INTERFACE, "default-profile")
    default_profile, ra_cert, ca_cert, identifier, presave, postsave = await asyncio.gather(
        *(bus.get_string_property(path, CA_INTERFACE, name)
          for name in ("default-profile", "scep-ra-cert", "scep-ca-cert", "scep-ca-identifier",
                       "ca-presave-command", "ca-postsave-command")))
    files = await asyncio.gather(*(bus.get_strings_property(path, CA_INTERFACE, name)
                                   for name in _FILE_LISTS))
    aka = await bus.get_string_property(path, CA_INTERFACE, "aka") if verbose else ""
    config = await bus.ca_config_file_path(path) if verbose else None
    if with_extras:
        profiles = await bus.get_strings_property(path, CA_INTERFACE, "supported-profiles")
    return output.CAView(
        nickname=nickname, is_default=is_default, type=ca_type, aka=aka,
        location=where if external else None, serial=None if external else where,
        issuer_names=issuers, profiles=profiles, default_profile=default_profile,
        root_cert_files=files[0], root_other_cert_files=files[1], other_cert_files=files[2],
        root_cert_nssdbs=files[3], root_other_cert_nssdbs=files[4],
        other_cert_nssdbs=files[5], scep=bool(ra_cert or ca_cert),
        scep_ca_identifier=identifier, scep_cert=ca_cert or ra_cert,
        presave_command=presave, postsave_command=postsave, config_path=config)


async def list_cas(ctx: Context) -> int:
    """`getcert list-cas`."""
    s = ctx.settings
    commands.check_extra_args(ctx)
    only_ca = ctx.ca
    bus = await ctx.bus()
    found = []
    for path in await bus.get_known_cas():
        nickname = await bus.ca_nickname(path)
        if nickname is not None and only_ca is not None and nickname != only_ca:
            continue
        # JSON always carries aka and config-path; text shows them with -v only.
        view = await _ca_view(bus, path, nickname, ctx.verbose or s.json, s.json)
        if s.json:
            found.append(output.ca_json(view))
        else:
            ctx.console.write(output.format_ca(view, verbose=ctx.verbose))
    if s.json:
        ctx.console.write(json.dumps(found, indent=2) + "\n")
    return 0
