"""What the D-Bus layer needs from the engine, and what the engine tells it back.

The D-Bus layer validates and translates; every decision and every change to a record
goes through these calls.  Records are identified by object identity: the `Request` and
`CA` instances the engine hands out stay the same for the life of the process, even when
their nickname changes, so the D-Bus layer can map object paths to them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from ..config import Config
from ..model import CA, Request
from ..paths import Paths


class EngineListener(Protocol):
    """Receives the engine's announcements (the D-Bus layer turns them into signals)."""

    def request_changed(self, request: Request, fields: set[str]) -> None:
        """`fields` (model attribute names) of `request` changed; already persisted."""

    def saved_certificate(self, request: Request) -> None:
        """A newly issued certificate was saved and read back (certmonger's SavedCertificate)."""

    def ca_changed(self, ca: CA, fields: set[str]) -> None:
        """`fields` of `ca` changed (CA data refreshed, helper changed...)."""


class EngineAPI(Protocol):
    """The engine's surface for the D-Bus layer."""

    config: Config
    paths: Paths  # where records live (get_config_file_path names a CA's file)

    def add_listener(self, listener: EngineListener) -> None:
        """Receive announcements from now on."""

    def requests(self) -> list[Request]:
        """All requests, in load/creation order."""

    def cas(self) -> list[CA]:
        """All CAs, in load/creation order (the built-in ones first)."""

    def request_by_nickname(self, nickname: str) -> Request | None:
        """Exact (case-sensitive) lookup."""

    def ca_by_nickname(self, nickname: str) -> CA | None:
        """Exact (case-sensitive) lookup."""

    def add_request(self, request: Request) -> Awaitable[None] | None:
        """Store a validated new request (NEWLY_ADDED) and start working on it.

        May return an awaitable that completes once the request is durably stored; the
        D-Bus layer then replies only after it (and replies with an error if it fails).

        Raises `errors.DuplicateError` when the nickname or a storage location is taken
        (checked again here, so two racing calls cannot both win).
        """

    def remove_request(self, request: Request) -> None:
        """Stop tracking: stop its work and delete its record (key and cert files stay)."""

    def modify_request(self, request: Request, changes: dict[str, Any]) -> None:
        """Apply `changes` (model attribute name -> new value) together, persist, and
        restart the request's work (a MONITORING request stays MONITORING)."""

    def resubmit(self, request: Request) -> bool:
        """New CSR (new key when the key settings changed), then enroll again."""

    def rekey(self, request: Request) -> bool:
        """New key pair, then enroll again."""

    def refresh(self, request: Request) -> bool:
        """Contact the CA again now; only in CA_UNREACHABLE / CA_WORKING, else False."""

    def add_ca(self, ca: CA) -> None:
        """Store a validated new CA and fetch its CA data."""

    def remove_ca(self, ca: CA) -> None:
        """Forget a CA (requests keep its name in their `ca_name`)."""

    def modify_ca(self, ca: CA, changes: dict[str, Any]) -> None:
        """Apply CA attribute changes, persist them, and refresh the CA's data."""

    def refresh_ca(self, ca: CA) -> bool:
        """Fetch the CA's data again now."""

    def last_checked(self, request: Request) -> int:
        """When the request's certificate was last looked at (Unix seconds)."""
