"""The CA subcommands: add-ca, add-scep-ca, modify-ca, refresh-ca and remove-ca."""

from __future__ import annotations

from pycertmonger.getcert import templates
from pycertmonger.getcert.commands import check_extra_args
from pycertmonger.getcert.context import Context


def _need_name_and_command(ctx: Context) -> None:
    if ctx.settings.ca is None:
        raise ctx.fail("CA nickname not specified.", usage=True)
    if ctx.settings.command is None:
        raise ctx.fail("CA helper command not specified.", usage=True)
    check_extra_args(ctx)


async def _add(ctx: Context, name: str, command: str) -> str:
    bus = await ctx.bus()
    added, path = await bus.add_known_ca(name, command)
    if not added:
        raise ctx.fail("New CA could not be added.")
    nickname = await bus.ca_nickname(path)
    ctx.say(f'New CA "{nickname or path}" added.')
    return path


async def add_ca(ctx: Context) -> int:
    """`getcert add-ca -c NAME -e COMMAND`."""
    _need_name_and_command(ctx)
    await _add(ctx, ctx.settings.ca or "", ctx.settings.command or "")
    return 0


async def add_scep_ca(ctx: Context) -> int:
    """`getcert add-scep-ca`: a CA served by certmonger's scep-submit helper."""
    s = ctx.settings
    if s.ca is None:
        raise ctx.fail("CA nickname not specified.", usage=True)
    if s.scep_url is None:
        raise ctx.fail("server URL not specified.", usage=True)
    if s.scep_root is None and s.scep_url.startswith("https:"):
        raise ctx.fail("HTTPS requires a CA certificate.", usage=True)
    check_extra_args(ctx)
    path = await _add(ctx, s.ca, templates.scep_command(s))
    if s.scep_id is not None:
        await (await ctx.bus()).set_ca_property(path, "scep-ca-identifier", s.scep_id)
    return 0


async def modify_ca(ctx: Context) -> int:
    """`getcert modify-ca -c NAME -e COMMAND`: change a CA's helper.

    An unknown CA is reported like elsewhere (the stock client aborts instead).
    """
    _need_name_and_command(ctx)
    name = ctx.settings.ca or ""
    path = await ctx.find_ca_by_name(name)
    if path is None:
        raise ctx.fail(f'No CA with name "{name}" found.')
    bus = await ctx.bus()
    await bus.set_ca_property(path, "external-helper", ctx.settings.command or "")
    nickname = await bus.ca_nickname(path)
    ctx.say(f'CA "{nickname or name}" modified.')
    return 0


async def refresh_ca(ctx: Context) -> int:
    """`getcert refresh-ca -c NAME` or `-a`: re-read what the CA(s) publish."""
    s = ctx.settings
    only_ca = ctx.ca
    if not s.all and only_ca is None:
        raise ctx.fail("Neither CA nickname nor -a flag specified.", usage=True)
    check_extra_args(ctx)
    bus = await ctx.bus()
    for path in await bus.get_known_cas():
        nickname = await bus.ca_nickname(path)
        if nickname is not None and not s.all and only_ca is not None and nickname != only_ca:
            continue
        if await bus.ca_refresh(path):
            if nickname is not None:
                ctx.say(f"Data for CA '{nickname}' being refreshed.")
            else:
                ctx.say("Data for unnamed CA being refreshed.")
        else:
            ctx.say("\terror refreshing CA data")
    return 0


async def remove_ca(ctx: Context) -> int:
    """`getcert remove-ca -c NAME`."""
    name = ctx.settings.ca
    if name is None:
        raise ctx.fail("CA nickname not specified.", usage=True)
    check_extra_args(ctx)
    path = await ctx.find_ca_by_name(name)
    if path is None:
        raise ctx.fail(f'No CA with name "{name}" found.')
    if not await (await ctx.bus()).remove_known_ca(path):
        raise ctx.fail("CA could not be removed.")
    ctx.say(f'CA "{name}" removed.')
    return 0
