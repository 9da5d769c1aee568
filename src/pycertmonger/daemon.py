"""The `certmonger` daemon: command line, process set-up, and the main loop.

Takes certmonger's flags: -s/-S (session/system bus), -n/-f (foreground/fork), -d N
(debug level, implies -n), -p FILE (PID file), -c CMD (run CMD once ready, then exit with
its status), -b SECS/-B (idle exit when bus-activated), -F (FIPS: accepted, no effect),
-v (version).  -l/-L/-P (private listening socket) are accepted and refused with a clear
message, since D-Bus peer-to-peer serving is not implemented.
"""

from __future__ import annotations

import asyncio
import fcntl
import getopt
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .engine import Engine
from .paths import Paths

log = logging.getLogger("certmonger")

VERSION = "0.79.17"
PYCERTMONGER_VERSION = "0.1.0"
USAGE = """Usage: certmonger [-s|-S] [-n|-f] [-d LEVEL] [-p FILE] [-c COMMAND] [-b SECONDS|-B] [-v]
  -s, --session                  use the session bus
  -S, --system                   use the system bus (default)
  -n, --nofork                   stay in the foreground and log to stderr
  -f, --fork                     run in the background and log to syslog (default)
  -d, --debug-level=LEVEL        log debug messages (implies -n)
  -p, --pidfile=FILE             write the process ID to FILE
  -c, --command=COMMAND          run COMMAND once ready, and exit when it exits
  -b, --bus-activation-timeout=SECONDS  exit after SECONDS idle with nothing tracked
  -B, --no-bus-activation-timeout       never exit when idle (default)
  -F, --fips                     accepted for compatibility
  -v, --version                  print the version and exit
"""


class UsageError(Exception):
    """A bad command line."""


@dataclass
class Options:
    """The daemon's command-line settings."""

    session: bool = False
    fork: bool = True
    debug: int = 0
    pidfile: str = ""
    command: str = ""
    idle_timeout: int = 0
    version: bool = False


def parse_args(argv: Sequence[str]) -> Options:
    """certmonger's options (short, bundled, or long)."""
    try:
        opts, rest = getopt.gnu_getopt(
            list(argv), "sSlLP:b:Bnfd:c:p:Fvh",
            ["session", "system", "listening-socket", "only-listening-socket",
             "listening-socket-path=", "bus-activation-timeout=",
             "no-bus-activation-timeout", "nofork", "fork", "debug-level=", "command=",
             "pidfile=", "fips", "version", "help"])
    except getopt.GetoptError as exc:
        raise UsageError(str(exc)) from exc
    if rest:
        raise UsageError(f"unexpected argument {rest[0]!r}")
    o = Options()
    for flag, value in opts:
        if flag in ("-s", "--session"):
            o.session = True
        elif flag in ("-S", "--system"):
            o.session = False
        elif flag in ("-l", "-L", "-P", "--listening-socket", "--only-listening-socket",
                      "--listening-socket-path"):
            raise UsageError("private listening sockets (-l, -L, -P) are not supported; "
                             "use the system or session bus")
        elif flag in ("-b", "--bus-activation-timeout"):
            try:
                o.idle_timeout = int(value)
            except ValueError as exc:
                raise UsageError(f"bad timeout {value!r}") from exc
        elif flag in ("-B", "--no-bus-activation-timeout"):
            o.idle_timeout = 0
        elif flag in ("-n", "--nofork"):
            o.fork = False
        elif flag in ("-f", "--fork"):
            o.fork = True
        elif flag in ("-d", "--debug-level"):
            try:
                o.debug = int(value)
            except ValueError as exc:
                raise UsageError(f"bad debug level {value!r}") from exc
            o.fork = False
        elif flag in ("-c", "--command"):
            o.command = value
        elif flag in ("-p", "--pidfile"):
            o.pidfile = value
        elif flag in ("-v", "--version"):
            o.version = True
        elif flag in ("-h", "--help"):
            raise UsageError("")
    return o


def setup_logging(options: Options) -> None:
    """stderr in the foreground; the journal under systemd; syslog otherwise."""
    level = logging.DEBUG if options.debug else logging.INFO
    root = logging.getLogger()
    root.setLevel(level)
    handler: logging.Handler
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        try:
            from systemd.journal import JournalHandler
            handler = JournalHandler(SYSLOG_IDENTIFIER="certmonger")
        except ImportError:
            handler = logging.StreamHandler(sys.stderr)
    elif not options.fork:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s [{os.getpid()}] %(message)s", "%Y-%m-%d %H:%M:%S"))
    else:
        handler = logging.handlers.SysLogHandler(address="/dev/log",
                                                 facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        handler.setFormatter(logging.Formatter("certmonger[%(process)d]: %(message)s"))
    root.handlers[:] = [handler]


def take_lock(path: Path) -> int:
    """certmonger's single-instance lock; raises OSError when another daemon holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def daemonize() -> None:
    """Detach from the terminal (double fork)."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def sd_notify(message: str) -> None:
    """Tell systemd how we are doing, when it is listening."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    try:
        from systemd import daemon as sd
        sd.notify(message)
    except ImportError:
        pass


async def serve(options: Options, paths: Paths) -> int:
    """Run until told to stop (or until the -c command exits); the exit status."""
    from .bus.service import start as start_service
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = Engine(paths)
    await engine.start()
    try:
        service = await start_service(engine, bus_type="session" if options.session
                                      else "system")
    except Exception as exc:  # noqa: BLE001 - any failure to serve ends the daemon cleanly
        log.error("Cannot serve %s on the %s bus: %s", "org.fedorahosted.certmonger",
                  "session" if options.session else "system", exc)
        await engine.stop()
        return 1
    log.info("certmonger (pycertmonger %s) ready, tracking %d requests", PYCERTMONGER_VERSION,
             len(engine.requests()))
    sd_notify("READY=1")
    status = 0
    waiters = [asyncio.ensure_future(stop.wait())]
    command: asyncio.subprocess.Process | None = None
    if options.command:
        command = await asyncio.create_subprocess_exec("/bin/sh", "-c", options.command)
        waiters.append(asyncio.ensure_future(command.wait()))
    if options.idle_timeout > 0:
        waiters.append(asyncio.ensure_future(_idle_watch(engine, options.idle_timeout)))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()
    if command is not None:
        if command.returncode is None:
            command.terminate()
            await command.wait()
        status = command.returncode or 0
    sd_notify("STOPPING=1")
    await service.stop()
    await engine.stop()
    return status


async def _idle_watch(engine: Engine, timeout: int) -> None:
    """Return once nothing has been tracked for `timeout` seconds (bus activation)."""
    idle = 0
    while idle < timeout:
        await asyncio.sleep(1)
        idle = idle + 1 if not engine.requests() else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The `certmonger` command."""
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        if str(exc):
            print(f"certmonger: {exc}", file=sys.stderr)
        print(USAGE, end="", file=sys.stderr if str(exc) else sys.stdout)
        return 1 if str(exc) else 0
    if options.version:
        print(f"certmonger {VERSION} (pycertmonger {PYCERTMONGER_VERSION})")
        return 0
    os.umask(0o077)
    paths = Paths.from_env(session=options.session)
    setup_logging(options)
    # Record locks do not survive fork(): detach first, then take the lock.
    if options.fork:
        daemonize()
    try:
        lock_fd = take_lock(paths.lock_file)
    except OSError as exc:
        log.error("Another instance holds %s: %s", paths.lock_file, exc)
        print(f"certmonger: another instance holds {paths.lock_file}: {exc}", file=sys.stderr)
        return 1
    if options.pidfile:
        Path(options.pidfile).write_text(f"{os.getpid()}\n")
    try:
        return asyncio.run(serve(options, paths))
    finally:
        if options.pidfile:
            try:
                os.unlink(options.pidfile)
            except OSError:
                pass
        os.close(lock_fd)


if __name__ == "__main__":
    sys.exit(main())
