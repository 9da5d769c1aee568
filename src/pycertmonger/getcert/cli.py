"""The getcert command line: pick the subcommand, read its options, run it, report.

`run` is the whole client (tests call it directly); `main`, `ipa_main`, `local_main`
and `selfsign_main` are the console scripts. The CA-fixed variants behave like
getcert with ``-c`` replaced by their own CA and the CA-management subcommands gone.

Differences from certmonger 0.79.17's client, all deliberate: ``-h``/``--help`` print
the usage and succeed; ``-s``/``-S`` may also come before the subcommand;
``modify-ca`` with an unknown CA says so instead of aborting; ``list`` and ``list-cas``
take ``--json``; and a missing system bus is reported rather than answered by
starting a private daemon.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from pycertmonger.getcert import cacommands, commands, krb5, listing, options, popt, usage
from pycertmonger.getcert.bus import BadReply, BusCallError, BusUnavailable
from pycertmonger.getcert.console import Console, Stop
from pycertmonger.getcert.context import Context
from pycertmonger.getcert.settings import Reader, Settings

# The CA each variant is bound to, by program name.
FIXED_CA = {"ipa-getcert": "IPA", "local-getcert": "local", "selfsign-getcert": "SelfSign"}

Handler = Callable[[Context], Awaitable[int]]

HANDLERS: dict[str, Handler] = {
    "request": commands.request,
    "start-tracking": commands.start_tracking,
    "stop-tracking": commands.stop_tracking,
    "resubmit": commands.resubmit,
    "rekey": commands.rekey,
    "refresh": commands.refresh,
    "list": listing.list_requests,
    "status": commands.status,
    "add-ca": cacommands.add_ca,
    "add-scep-ca": cacommands.add_scep_ca,
    "list-cas": listing.list_cas,
    "modify-ca": cacommands.modify_ca,
    "refresh-ca": cacommands.refresh_ca,
    "remove-ca": cacommands.remove_ca,
}

# What the stock client prints for some D-Bus errors, instead of (or, with -v, before)
# the raw error; certmonger's own errors print their message.
HINTS = {
    "org.freedesktop.DBus.Error.AccessDenied":
        "Insufficient access.  Please retry operation as root.\n",
    "org.freedesktop.DBus.Error.NameHasNoOwner":
        "Please verify that the certmonger service has been started.\n",
    "org.freedesktop.DBus.Error.ServiceUnknown":
        "Please verify that the certmonger service has been started.\n",
    "org.freedesktop.DBus.Error.NoReply":
        "Please verify that the certmonger service is still running.\n",
    "org.freedesktop.DBus.Error.NoServer":
        "Please verify that the message bus (D-Bus) service is running.\n",
}
CERTMONGER_ERRORS = "org.fedorahosted.certmonger"

_BUS_OPTIONS = {"-s": True, "--session": True, "-S": False, "--system": False}


def report_bus_error(console: Console, error: BusCallError, verbose: bool) -> None:
    """Print a failed call the way the stock client does."""
    hint = HINTS.get(error.name)
    if hint is None and error.name.startswith(CERTMONGER_ERRORS):
        hint = error.message + "\n"
    if hint is not None:
        console.write(hint)
    if hint is None or verbose:
        if error.message and verbose:
            console.write(f"Error {error.name}: {error.message}\n")
        else:
            console.write(f"Error {error.name}\n")


def help_columns() -> int:
    """How wide popt's help table may be: 79, or the terminal's width less one."""
    try:
        if os.isatty(1):
            width = os.get_terminal_size(1).columns
            if 79 < width < 256:
                return width - 1
    except OSError:
        pass
    return 79


def _read_options(ctx: Context, argv: Sequence[str], table: Sequence[popt.Option]) -> int | None:
    # Options are taken one at a time, so messages come out in command-line order;
    # returns an exit code when the command line itself settles the run.
    realm: list[str | None] = []

    def lazy_realm() -> str | None:
        if not realm:
            realm.append(krb5.default_realm())
        return realm[0]

    reader = Reader(ctx.subcommand, ctx.say, lazy_realm, settings=ctx.settings)
    parser = popt.Parser(table, argv)
    try:
        for option, value in parser.options():
            if option.dest == "popt_help":
                ctx.console.write(popt.format_help(ctx.prog, ctx.subcommand, table,
                                                   help_columns()))
                return 1
            if option.dest == "help":
                ctx.console.write(usage.usage(ctx.prog, ctx.subcommand, ctx.fixed_ca))
                return 0
            reader.apply(option, value)
    except popt.PoptError as e:
        raise ctx.fail(e.text, usage=True) from None
    ctx.settings.extra = parser.leftovers
    return None


async def _run_handler(ctx: Context, handler: Handler) -> int:
    try:
        return await handler(ctx)
    finally:
        ctx.close()


def run(argv: Sequence[str], prog: str = "getcert", console: Console | None = None) -> int:
    """Run one getcert command line (without the program name); the exit status."""
    console = console if console is not None else Console()
    fixed_ca = FIXED_CA.get(prog)
    args = list(argv)
    session = False
    # An addition: the bus may be chosen before the subcommand too.
    while args and args[0] in _BUS_OPTIONS:
        session = _BUS_OPTIONS[args.pop(0)]
    if args and args[0] in ("-h", "--help"):
        console.write(usage.summary(prog, fixed_ca))
        console.flush()
        return 0
    if not args:
        console.write(usage.summary(prog, fixed_ca))
        console.flush()
        return 1
    subcommand = args.pop(0)
    if subcommand not in options.subcommands(fixed_ca):
        console.complain(f"{subcommand}: unrecognized command")
        console.flush()
        return 1
    ctx = Context(prog=prog, subcommand=subcommand, settings=Settings(session=session),
                  console=console, fixed_ca=fixed_ca)
    try:
        try:
            code = _read_options(ctx, args, options.table(subcommand, fixed_ca))
            if code is not None:
                return code
            return asyncio.run(_run_handler(ctx, HANDLERS[subcommand]))
        except Stop as stop:
            if stop.usage:
                console.write(usage.usage(prog, subcommand, fixed_ca))
            return stop.code
        except BusUnavailable:
            console.say("Error connecting to D-Bus.")
            console.say("Please verify that the message bus (D-Bus) service is running.")
            return 1
        except BusCallError as error:
            report_bus_error(console, error, ctx.verbose)
            return 1
        except BadReply:
            console.say("Error parsing server response.")
            return 1
    finally:
        console.flush()


def _main(prog: str) -> None:
    try:
        code = run(sys.argv[1:], prog=prog)
    except BrokenPipeError:
        # Someone stopped reading (`getcert list | head`): nothing left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def main() -> None:
    """The `getcert` console script."""
    _main("getcert")


def ipa_main() -> None:
    """The `ipa-getcert` console script (CA fixed to IPA)."""
    _main("ipa-getcert")


def local_main() -> None:
    """The `local-getcert` console script (CA fixed to local)."""
    _main("local-getcert")


def selfsign_main() -> None:
    """The `selfsign-getcert` console script (CA fixed to SelfSign)."""
    _main("selfsign-getcert")


if __name__ == "__main__":
    main()
