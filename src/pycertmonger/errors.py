"""The one error tree.  Each error maps to exactly one certmonger D-Bus error name.

Errors carry the message certmonger would send and the argument names it reports
(certmonger error bodies are `(s message, s argname)`, or `(s message, as argnames)` for
`duplicate`).  The D-Bus layer turns them into error replies; nothing else knows the names.
"""

from __future__ import annotations

BUS_PREFIX = "org.fedorahosted.certmonger"


class CertmongerError(Exception):
    """Base of every error a client can be told about."""

    dbus_name = f"{BUS_PREFIX}.internal"

    def __init__(self, message: str, *args: str) -> None:
        super().__init__(message)
        self.message = message
        self.args_names = list(args)

    def __str__(self) -> str:
        return self.message

    def dbus_body(self) -> tuple[str, list[object]]:
        """The error reply's signature and body: `(message, argname)` for most errors."""
        return "ss", [self.message, self.args_names[0] if self.args_names else ""]


class BadArgError(CertmongerError, ValueError):
    """An argument has a value certmonger does not accept."""

    dbus_name = f"{BUS_PREFIX}.bad_arg"


class MissingArgError(CertmongerError, ValueError):
    """A required argument is missing."""

    dbus_name = f"{BUS_PREFIX}.missing_arg"


class DuplicateError(CertmongerError, ValueError):
    """A nickname or a storage location is already used by another entry."""

    dbus_name = f"{BUS_PREFIX}.duplicate"

    def dbus_body(self) -> tuple[str, list[object]]:
        """`(message, [argnames])`: the names list is empty for a duplicate CA."""
        return "sas", [self.message, list(self.args_names)]


class NoSuchEntryError(CertmongerError, LookupError):
    """The request or CA named does not exist."""

    dbus_name = f"{BUS_PREFIX}.no_such_entry"

    def __init__(self, message: str = "No matching entry found.\n", *args: str) -> None:
        super().__init__(message, *args)

    def dbus_body(self) -> tuple[str, list[object]]:
        """Just the message."""
        return "s", [self.message]


class RequestBadArgError(CertmongerError, ValueError):
    """A request (or CA) property or modify key is unknown or has the wrong type."""

    dbus_name = f"{BUS_PREFIX}.request.bad_arg"


class InternalError(CertmongerError, RuntimeError):
    """Something went wrong inside the daemon."""

    dbus_name = f"{BUS_PREFIX}.internal"

    def __init__(self, message: str = "An internal error has occurred.", *args: str) -> None:
        super().__init__(message, *args)

    def dbus_body(self) -> tuple[str, list[object]]:
        """Just the message."""
        return "s", [self.message]


class RequestInternalError(InternalError):
    """Something went wrong inside the daemon while serving a request object."""

    dbus_name = f"{BUS_PREFIX}.request.internal"


class CAInternalError(InternalError):
    """Something went wrong inside the daemon while serving a CA object."""

    dbus_name = f"{BUS_PREFIX}.ca.internal"


class UnknownMethodError(CertmongerError, LookupError):
    """No such method (or no such object) here; libdbus's own error, with its text."""

    dbus_name = "org.freedesktop.DBus.Error.UnknownMethod"

    def __init__(self, member: str, signature: str, interface: str | None) -> None:
        super().__init__(f'Method "{member}" with signature "{signature}" on interface '
                         f'"{interface or "(null)"}" doesn\'t exist\n')

    def dbus_body(self) -> tuple[str, list[object]]:
        """Just the message."""
        return "s", [self.message]
