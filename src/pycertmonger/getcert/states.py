"""What getcert makes of a request's state: exit codes, waiting, and list filters."""

from __future__ import annotations

from pycertmonger.model import LEGACY_STATE_NAMES, State

# Exit codes of `status` and of `-w` (certmonger's CM_SUBMIT_STATUS_* values).
ISSUED = 0
NOT_FOUND = 1  # also: any error, and `--wait-timeout` running out
REJECTED = 2
UNREACHABLE = 3
UNCONFIGURED = 4
WAIT_WITH_DELAY = 5

# States `list -r` leaves out (certificate issued, possibly being notified about);
# `list -t` leaves out every other known state.
TRACKED_STATES = frozenset(
    {State.MONITORING}
    | {s for s in State if s.name.startswith(("NEED_TO_NOTIFY_", "NOTIFYING_"))}
)


def known_state(name: str) -> bool:
    """Whether certmonger's client recognises a state name (else "invalid state")."""
    if name in LEGACY_STATE_NAMES:
        return True
    try:
        return State(name) is not State.INVALID
    except ValueError:
        return False


def is_tracked(name: str) -> bool:
    """Whether a state counts as "tracking" (issued) rather than "request" for -r/-t."""
    return LEGACY_STATE_NAMES.get(name, name) in TRACKED_STATES


def status_exit_code(state: str, stuck: bool) -> int:
    """The exit code `getcert status` gives for a state.

    MONITORING 0, CA_REJECTED 2, CA_UNREACHABLE 3, other stuck states 4, and 5 for
    anything still in progress (CA_WORKING included).
    """
    if state == State.MONITORING:
        return ISSUED
    if state == State.CA_REJECTED:
        return REJECTED
    if state == State.CA_WORKING:
        return WAIT_WITH_DELAY
    if state == State.CA_UNREACHABLE:
        return UNREACHABLE
    if stuck:
        return UNCONFIGURED
    return WAIT_WITH_DELAY


def wait_is_over(state: str, stuck: bool) -> bool:
    """Whether `-w` stops waiting: the state is final or waits on the CA."""
    return state in (State.MONITORING, State.CA_REJECTED, State.CA_WORKING,
                     State.CA_UNREACHABLE) or stuck


def refreshable(state: str) -> bool:
    """Whether `getcert refresh` asks the daemon to contact the CA again."""
    return state in (State.CA_WORKING, State.CA_UNREACHABLE)
