"""An in-memory engine for testing the D-Bus layer without keys, CAs or files.

It keeps the records it is given, applies changes the way the real engine's contract
says (see `pycertmonger.bus.engine_api`), announces them to its listeners, and writes down
every call so a test can check what the D-Bus layer asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pycertmonger.config import Config
from pycertmonger.errors import DuplicateError
from pycertmonger.model import CA, Request, State
from pycertmonger.paths import Paths
from pycertmonger.store import record

STOCK_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "stock"
STOCK_CA_FILES = ("SelfSign", "IPA", "dogtag-ipa-renew-agent", "local")
STOCK_REQUEST_FILES = ("ss1", "loc1", "nss1")


def stock_cas() -> list[CA]:
    """The four built-in CAs as the stock daemon wrote them (CA1..CA4 in this order)."""
    out = []
    for name in STOCK_CA_FILES:
        ca = record.loads(CA, (STOCK_DIR / "cas" / name).read_text())
        ca.store_name = name
        out.append(ca)
    return out


def stock_requests() -> list[Request]:
    """The requests ss1 (SelfSign, FILE), loc1 (local, FILE) and nss1 (local, NSSDB)."""
    out = []
    for name in STOCK_REQUEST_FILES:
        request = record.loads(Request, (STOCK_DIR / "requests" / name).read_text())
        request.store_name = name
        out.append(request)
    return out


def scratch_paths(base: Path) -> Paths:
    """State directories under `base` (nothing is written there by the fake)."""
    return Paths(requests_dir=base / "requests", cas_dir=base / "cas",
                 local_ca_dir=base / "local", config_dir=base / "config", tmp_dir=base / "tmp",
                 lock_file=base / "lock")


class FakeEngine:
    """An EngineAPI over plain lists."""

    def __init__(self, *, cas: list[CA] | None = None, requests: list[Request] | None = None,
                 config: Config | None = None, paths: Paths | None = None) -> None:
        self.config = config or Config()
        self.paths = paths or scratch_paths(Path("/nonexistent/pycertmonger-test"))
        self._cas = list(cas if cas is not None else stock_cas())
        self._requests = list(requests if requests is not None else stock_requests())
        self.listeners: list[Any] = []
        self.calls: list[tuple[str, Any]] = []
        self.checked: dict[int, int] = {}

    # -- reading ------------------------------------------------------------------------------

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def requests(self) -> list[Request]:
        return list(self._requests)

    def cas(self) -> list[CA]:
        return list(self._cas)

    def request_by_nickname(self, nickname: str) -> Request | None:
        return next((r for r in self._requests if r.nickname == nickname), None)

    def ca_by_nickname(self, nickname: str) -> CA | None:
        return next((c for c in self._cas if c.nickname == nickname), None)

    def last_checked(self, request: Request) -> int:
        return self.checked.get(id(request), 0)

    # -- announcing (what the real engine does after persisting) -------------------------

    def announce(self, request: Request, fields: set[str]) -> None:
        for listener in self.listeners:
            listener.request_changed(request, fields)

    def announce_saved(self, request: Request) -> None:
        for listener in self.listeners:
            listener.saved_certificate(request)

    def announce_ca(self, ca: CA, fields: set[str]) -> None:
        for listener in self.listeners:
            listener.ca_changed(ca, fields)

    def set_state(self, request: Request, state: State, **changes: Any) -> None:
        """Move a request as the engine would, and announce it."""
        request.state = state
        for name, value in changes.items():
            setattr(request, name, value)
        self.announce(request, {"state", *changes})

    # -- requests -----------------------------------------------------------------------------

    def add_request(self, request: Request) -> None:
        self.calls.append(("add_request", request))
        for other in self._requests:
            if other.nickname.lower() == request.nickname.lower():
                raise DuplicateError(
                    f'There is already a request with the nickname "{other.nickname}".',
                    "NICKNAME")
        request.state = State.NEWLY_ADDED
        self._requests.append(request)

    def remove_request(self, request: Request) -> None:
        self.calls.append(("remove_request", request))
        self._requests.remove(request)

    def modify_request(self, request: Request, changes: dict[str, Any]) -> None:
        self.calls.append(("modify_request", (request, dict(changes))))
        for name, value in changes.items():
            setattr(request, name, value)
        self.announce(request, {"state", *changes})

    def resubmit(self, request: Request) -> bool:
        self.calls.append(("resubmit", request))
        self.set_state(request, State.NEED_CSR)
        return True

    def rekey(self, request: Request) -> bool:
        self.calls.append(("rekey", request))
        self.set_state(request, State.NEED_KEY_PAIR)
        return True

    def refresh(self, request: Request) -> bool:
        self.calls.append(("refresh", request))
        return request.state in (State.CA_UNREACHABLE, State.CA_WORKING)

    # -- CAs ----------------------------------------------------------------------------------

    def add_ca(self, ca: CA) -> None:
        self.calls.append(("add_ca", ca))
        for other in self._cas:
            if other.nickname.lower() == ca.nickname.lower():
                raise DuplicateError(
                    f'There is already a CA with the nickname "{other.nickname}".')
        self._cas.append(ca)

    def remove_ca(self, ca: CA) -> None:
        self.calls.append(("remove_ca", ca))
        self._cas.remove(ca)

    def modify_ca(self, ca: CA, changes: dict[str, Any]) -> None:
        self.calls.append(("modify_ca", (ca, dict(changes))))
        for name, value in changes.items():
            setattr(ca, name, value)
        self.announce_ca(ca, set(changes))

    def refresh_ca(self, ca: CA) -> bool:
        self.calls.append(("refresh_ca", ca))
        return True
