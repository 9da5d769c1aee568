"""One getcert run: its settings, its output, its bus connection and its look-ups.

Requests and CAs are found the way the stock client finds them, never through the
daemon's ``find_*_by_nickname`` calls: by walking ``get_requests``/``get_known_cas``
and comparing nicknames (ignoring case, last match wins) or storage locations (exact;
two matches count as none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycertmonger.getcert.bus import CertmongerBus
from pycertmonger.getcert.console import Console, Stop
from pycertmonger.getcert.settings import Settings


@dataclass
class Context:
    """What every subcommand works with."""

    prog: str
    subcommand: str
    settings: Settings
    console: Console
    fixed_ca: str | None = None
    _bus: CertmongerBus | None = field(default=None, repr=False)

    @property
    def verbose(self) -> bool:
        """Whether -v was given."""
        return self.settings.verbose > 0

    @property
    def ca(self) -> str | None:
        """The CA named on the command line, or the variant's own CA."""
        return self.settings.ca if self.fixed_ca is None else self.fixed_ca

    def say(self, line: str) -> None:
        """Print a line to stdout."""
        self.console.say(line)

    def fail(self, line: str, usage: bool = False) -> Stop:
        """Print a line and return the Stop that ends the subcommand with status 1."""
        self.console.say(line)
        return Stop(1, usage=usage)

    async def bus(self) -> CertmongerBus:
        """The connection, made on first use (the stock client connects lazily too)."""
        if self._bus is None:
            self._bus = await CertmongerBus.connect(session=self.settings.session)
        return self._bus

    def close(self) -> None:
        """Drop the connection, if one was made."""
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    # -- look-ups ------------------------------------------------------------------

    async def find_ca_by_name(self, name: str) -> str | None:
        """The path of the CA called `name` (case-insensitively; the last one wins)."""
        bus = await self.bus()
        found = None
        for path in await bus.get_known_cas():
            nickname = await bus.ca_nickname(path)
            if nickname is not None and nickname.casefold() == name.casefold():
                found = path
        return found

    async def find_request_by_name(self, name: str) -> str | None:
        """The path of the request called `name` (case-insensitively; the last one wins)."""
        bus = await self.bus()
        found = None
        for path in await bus.get_requests():
            nickname = await bus.request_nickname(path)
            if nickname is not None and nickname.casefold() == name.casefold():
                found = path
        return found

    async def find_request_by_storage(self, dbdir: str | None, nickname: str | None,
                                      token: str | None, certfile: str | None) -> str | None:
        """The one request whose certificate is stored where the options say.

        NSSDB requests match on database, nickname and (if given) token; FILE requests
        on the file. None when nothing, or more than one request, matches.
        """
        bus = await self.bus()
        found = None
        for path in await bus.get_requests():
            info = await bus.cert_storage(path)
            kind = info.type.upper()
            if kind == "NSSDB":
                if dbdir is None or info.location != dbdir:
                    continue
                if nickname is None or info.nickname != nickname:
                    continue
                if token is not None and info.token != token:
                    continue
            elif kind == "FILE" and (certfile is None or certfile != info.location):
                continue
            if found is not None:
                return None
            found = path
        return found

    async def find_request(self) -> str | None:
        """The request the selectors name: -i by nickname, else -d/-n/-t or -f."""
        s = self.settings
        if s.id is not None:
            return await self.find_request_by_name(s.id)
        return await self.find_request_by_storage(s.dbdir, s.nickname, s.token, s.certfile)

    async def ca_path(self) -> str | None:
        """The path of the CA the options name, None when none is named.

        Stops with ``No CA with name "X" found.`` when it does not exist.
        """
        name = self.ca
        if name is None:
            return None
        path = await self.find_ca_by_name(name)
        if path is None:
            raise self.fail(f'No CA with name "{name}" found.')
        return path
