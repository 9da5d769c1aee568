"""The request subcommands: request, start-tracking, stop-tracking, resubmit, rekey,
refresh and status.

Each follows certmonger 0.79.17's client step for step: the same checks in the same
order with the same words, the same D-Bus calls, the same exit codes.
"""

from __future__ import annotations

import asyncio
import socket
import time

from pycertmonger.getcert import krb5, states, templates
from pycertmonger.getcert.context import Context

# How often `-w` asks for the state (the stock client sleeps about this long).
POLL_INTERVAL = 0.125

IPA_NEEDS_PRINCIPAL = (
    "The IPA backend requires the use of the -K option (principal name) when any of the "
    "-N (subject name), -E (email address), -A (IP address), -D (DNS name), or -U "
    "(extendedKeyUsage) options is used."
)


def hostname() -> str:
    """The host name the default template uses: gethostname(), like the stock client.

    (It does not ask the resolver for a canonical name.)
    """
    try:
        return socket.gethostname() or "localhost"
    except OSError:
        return "localhost"


def check_extra_args(ctx: Context, *, list_them: bool = False) -> None:
    """Words that are not options are an error; `request` also names each of them."""
    extra = ctx.settings.extra
    if not extra:
        return
    if list_them:
        for word in extra:
            ctx.say(f'Error: unused extra argument "{word}".')
    raise ctx.fail("Error: unused extra arguments were supplied.", usage=True)


def check_storage_pairing(ctx: Context) -> None:
    """-d and -n go together, and not with -f."""
    s = ctx.settings
    if (s.dbdir is None) != (s.nickname is None):
        raise ctx.fail("Database location or nickname specified without the other.",
                       usage=True)
    if s.dbdir is not None and s.certfile is not None:
        raise ctx.fail("Database directory and certificate file both specified.", usage=True)


def check_key_not_cert(ctx: Context) -> None:
    """The key and the certificate can't share a file."""
    s = ctx.settings
    if s.certfile is not None and s.keyfile is not None and s.certfile == s.keyfile:
        raise ctx.fail("Key and certificate can not both be saved to the same file.",
                       usage=True)


async def wait_for(ctx: Context, path: str) -> int:
    """Poll the request until it is done or waits on the CA; the exit code for `-w`.

    Prints each new state with -v. ``--wait-timeout`` (seconds; negative means no
    limit) running out gives 1, silently.
    """
    bus = await ctx.bus()
    timeout = ctx.settings.wait_timeout
    start = time.monotonic()
    previous = None
    while True:
        if timeout is not None and timeout >= 0 and time.monotonic() - start >= timeout:
            return states.NOT_FOUND
        state, stuck = await bus.request_status(path)
        if ctx.verbose and state != previous:
            ctx.say(f"State {state}, stuck: {'yes' if stuck else 'no'}.")
        if states.wait_is_over(state, stuck):
            return states.status_exit_code(state, stuck)
        previous = state
        await asyncio.sleep(POLL_INTERVAL)


async def request(ctx: Context) -> int:
    """`getcert request`: a new key and certificate, enrolled with a CA."""
    s = ctx.settings
    check_extra_args(ctx, list_them=True)
    check_storage_pairing(ctx)
    if s.dbdir is None and s.nickname is None and s.certfile is None:
        raise ctx.fail("None of database directory and nickname or certificate file "
                       "specified.", usage=True)
    check_key_not_cert(ctx)
    templates.apply_default_template(s, templates.Host(hostname(), krb5.default_realm()))
    if ctx.ca == "IPA" and s.principal is None:
        raise ctx.fail(IPA_NEEDS_PRINCIPAL, usage=True)
    ca_path = await ctx.ca_path()
    bus = await ctx.bus()
    added, path = await bus.add_request(templates.request_entries(s, ca_path))
    if not added:
        raise ctx.fail("New signing request could not be added.")
    nickname = await bus.request_nickname(path)
    ctx.say(f'New signing request "{nickname or path}" added.')
    if s.wait:
        return await wait_for(ctx, path)
    return 0


async def start_tracking(ctx: Context) -> int:
    """`getcert start-tracking`: track an existing certificate, or change a request."""
    s = ctx.settings
    _check_tracking_selectors(ctx)
    bus = await ctx.bus()
    existing = await ctx.find_request()
    if existing is not None:
        entries = templates.tracking_modify_entries(s, await ctx.ca_path())
        modified, path = await bus.modify(existing, entries)
        nickname = await bus.request_nickname(path)
        if not modified:
            raise ctx.fail(f'Request "{nickname or path}" could not be modified.')
        ctx.say(f'Request "{nickname or path}" modified.')
        return 0
    if s.id is not None:
        raise ctx.fail("No request found with specified nickname.", usage=True)
    added, path = await bus.add_request(templates.tracking_add_entries(s, await ctx.ca_path()))
    if not added:
        raise ctx.fail("New tracking request could not be added.")
    nickname = await bus.request_nickname(path)
    ctx.say(f'New tracking request "{nickname or path}" added.')
    if s.wait:
        return await wait_for(ctx, path)
    return 0


async def stop_tracking(ctx: Context) -> int:
    """`getcert stop-tracking`: forget a request (its files stay)."""
    _check_tracking_selectors(ctx)
    bus = await ctx.bus()
    path = await ctx.find_request()
    if path is None:
        raise ctx.fail("No request found that matched arguments.")
    nickname = await bus.request_nickname(path)
    if not await bus.remove_request(path):
        raise ctx.fail(f'Request "{nickname or path}" could not be removed.')
    ctx.say(f'Request "{nickname or path}" removed.')
    return 0


def _check_tracking_selectors(ctx: Context) -> None:
    s = ctx.settings
    check_extra_args(ctx)
    check_storage_pairing(ctx)
    if s.id is None and s.dbdir is None and s.nickname is None and s.certfile is None:
        raise ctx.fail("None of ID or database directory and nickname or certificate file "
                       "specified.", usage=True)
    check_key_not_cert(ctx)


async def resubmit(ctx: Context, rekey: bool = False) -> int:
    """`getcert resubmit` (new CSR) and `getcert rekey` (new key, then new CSR)."""
    s = ctx.settings
    check_extra_args(ctx)
    bus = await ctx.bus()
    path = await ctx.find_request()
    if path is None:
        if s.id is not None:
            raise ctx.fail("No request found with specified nickname.", usage=True)
        check_storage_pairing(ctx)
        if s.dbdir is None and s.nickname is None and s.certfile is None:
            raise ctx.fail("None of database directory and nickname or certificate file "
                           "specified.", usage=True)
        raise ctx.fail("No request found that matched arguments.")
    # The variants do not force their CA here: resubmitting keeps the request's CA.
    ca_path = None
    if s.ca is not None:
        ca_path = await ctx.find_ca_by_name(s.ca)
        if ca_path is None:
            raise ctx.fail(f'No CA with name "{s.ca}" found.')
    modified, path = await bus.modify(path, templates.resubmit_entries(s, ca_path))
    if not modified:
        nickname = await bus.request_nickname(path)
        raise ctx.fail(f'Error modifying "{nickname or path}".')
    ca_name = None
    current_ca = await bus.request_ca(path)
    if current_ca is not None:
        ca_name = await bus.ca_nickname(current_ca)
    nickname = await bus.request_nickname(path)
    started = await (bus.rekey(path) if rekey else bus.resubmit(path))
    if not started:
        if ca_name is not None:
            raise ctx.fail(f'Error attempting to submit "{path}" to "{ca_name}".')
        raise ctx.fail(f'Error attempting to submit "{path}".')
    if ca_name is not None:
        ctx.say(f'Resubmitting "{nickname or path}" to "{ca_name}".')
    else:
        ctx.say(f'Resubmitting "{nickname or path}".')
    if s.wait:
        return await wait_for(ctx, path)
    return 0


async def rekey(ctx: Context) -> int:
    """`getcert rekey`."""
    return await resubmit(ctx, rekey=True)


async def refresh(ctx: Context) -> int:
    """`getcert refresh`: contact the CA again for requests waiting on it."""
    s = ctx.settings
    if (not s.all and s.id is None and (s.dbdir is None or s.nickname is None)
            and s.certfile is None):
        raise ctx.fail("None of ID or database directory and nickname or certificate file "
                       "specified.", usage=True)
    check_extra_args(ctx)
    only_ca = ctx.ca
    if only_ca is not None:
        await ctx.ca_path()
    bus = await ctx.bus()
    for path in await bus.get_requests():
        ca_name = None
        ca_path = await bus.request_ca(path)
        if ca_path is not None:
            ca_name = await bus.ca_nickname(ca_path)
        if only_ca is not None and ca_name != only_ca:
            continue
        nickname = await bus.request_nickname(path)
        if s.id is not None and nickname != s.id:
            continue
        if not await storage_matches(ctx, path, strict_location=True):
            continue
        state, _ = await bus.request_status(path)
        if not states.refreshable(state):
            continue
        if await bus.refresh(path):
            ctx.say(f"Request ID '{nickname}' being refreshed.")
        else:
            ctx.say(f"Request ID '{nickname}' NOT being refreshed.")
    return 0


async def storage_matches(ctx: Context, path: str, *, strict_location: bool) -> bool:
    """The -d/-n/-f filter of `refresh` and `list`.

    Looser than find_request_by_storage: -d or -n alone are enough, and a nickname
    (with `strict_location` off, also a database) the daemon doesn't report is not held
    against the request.
    """
    s = ctx.settings
    if s.dbdir is None and s.nickname is None and s.certfile is None:
        return True
    info = await (await ctx.bus()).cert_storage(path)
    if s.dbdir is not None or s.nickname is not None:
        if info.type != "NSSDB":
            return False
        if s.dbdir is not None and (strict_location or info.location is not None) \
                and s.dbdir != info.location:
            return False
        if s.nickname is not None and info.nickname is not None and s.nickname != info.nickname:
            return False
    return s.certfile is None or (info.type == "FILE" and s.certfile == info.location)


async def status(ctx: Context) -> int:
    """`getcert status`: the state as an exit code (and as text with -v)."""
    s = ctx.settings
    check_extra_args(ctx)
    bus = await ctx.bus()
    if s.id is not None:
        path = await ctx.find_request_by_name(s.id)
        if path is None:
            raise ctx.fail("No request found with specified nickname.")
    else:
        path = await ctx.find_request_by_storage(s.dbdir, s.nickname, None, s.certfile)
        if path is None:
            if (s.dbdir is not None and s.nickname is not None) or s.certfile is not None:
                raise ctx.fail("No request found that matched arguments.")
            raise ctx.fail("None of ID or database directory and and nickname or "
                           "certificate file specified.", usage=True)
    state, stuck = await bus.request_status(path)
    if ctx.verbose:
        ctx.say(f"State {state}, stuck: {'yes' if stuck else 'no'}.")
    return states.status_exit_code(state, stuck)

