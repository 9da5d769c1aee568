"""The request state machine: which work each state calls for, and where each result leads.

Pure: no I/O, no clock.  The engine asks `action_for(state)` what to do in a state, does
it, and hands the `Outcome` back to `advance`, which answers with a `Step`: the next
state, the states to announce on the way (certmonger announces a chain of intermediate
states, e.g. HAVE_KEY_PAIR -> NEED_KEYINFO -> READING_KEYINFO -> HAVE_KEYINFO, that we
pass through in one go), and how to wait before going on (`Rest`).  How long a wait
lasts is `schedule`'s business, not this module's.

The transitions follow certmonger 0.79's (certmonger-internals §2.1-2.4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .model import State

S = State


class Action(enum.Enum):
    """Work the engine does in a state."""

    READ_EXISTING = "read-existing"  # NEWLY_ADDED: look for a key and a certificate
    GENERATE_KEY = "generate-key"
    READ_KEYINFO = "read-keyinfo"
    MAKE_CSR = "make-csr"
    SUBMIT = "submit"
    MAKE_SCEP = "make-scep"
    PRE_SAVE = "pre-save"  # run pre-save commands
    SAVE_CERT = "save-cert"
    SAVE_CA_CERTS = "save-ca-certs"
    SAVE_ONLY_CA_CERTS = "save-only-ca-certs"
    READ_CERT = "read-cert"
    POST_SAVE = "post-save"  # run post-save commands, announce SavedCertificate
    NOTIFY_ISSUED = "notify-issued"
    NOTIFY_REJECTED = "notify-rejected"
    NOTIFY_SAVE_FAILED = "notify-save-failed"
    NOTIFY_CA_SAVE_FAILED = "notify-ca-save-failed"
    NOTIFY_ONLY_CA_SAVE_FAILED = "notify-only-ca-save-failed"
    CHECK_EXPIRY = "check-expiry"  # MONITORING woke up: notify and/or renew?


class Outcome(enum.Enum):
    """What an action came to."""

    OK = "ok"
    FOUND_CERT = "found-cert"
    FOUND_KEY = "found-key"
    NO_KEY = "no-key"
    NO_STORAGE = "no-storage"
    PERMS = "perms"
    PIN = "pin"
    TOKEN = "token"
    FAILED = "failed"  # any other failure: retry soon
    NO_CA = "no-ca"
    ISSUED = "issued"
    WAIT = "wait"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    UNCONFIGURED = "unconfigured"
    NEED_GUIDANCE = "need-guidance"
    NEED_REKEY = "need-rekey"
    NEED_SCEP = "need-scep"
    NEED_ENCRYPTION_CERT = "need-encryption-cert"
    NEED_RSA_KEY = "need-rsa-key"
    RENEW = "renew"
    REKEY = "rekey"
    NOTHING = "nothing"


class Rest(enum.Enum):
    """How to wait before the next state's work."""

    NONE = "none"  # go on at once
    SOON = "soon"  # certmonger's "soonish": 30 s
    CA_DELAY = "ca-delay"  # until the CA should be asked again (schedule decides)
    UNREACHABLE = "unreachable"  # retry an unreachable CA (schedule decides: backoff)
    MONITOR = "monitor"  # until the next expiry check (schedule decides)
    FOREVER = "forever"  # stuck or finished: only a client can move it


@dataclass(frozen=True)
class Facts:
    """What the machine needs to know about a request beyond its state."""

    has_cert: bool = False
    ca_certs_to_save: bool = False  # the CA has certificates and somewhere to save them
    has_hooks: bool = False  # pre/post-save commands apply


@dataclass(frozen=True)
class Step:
    """The result of one transition."""

    state: State
    passing: tuple[State, ...] = ()
    rest: Rest = Rest.NONE
    working: tuple[State, ...] = field(default=())  # unused by advance; see WORKING


# The state announced while an action runs (certmonger's "...ING" states).
WORKING: dict[Action, tuple[State, ...]] = {
    Action.READ_EXISTING: (S.NEWLY_ADDED_START_READING_KEYINFO, S.NEWLY_ADDED_READING_KEYINFO,
                           S.NEWLY_ADDED_START_READING_CERT, S.NEWLY_ADDED_READING_CERT),
    Action.GENERATE_KEY: (S.GENERATING_KEY_PAIR,),
    Action.READ_KEYINFO: (S.READING_KEYINFO,),
    Action.MAKE_CSR: (S.GENERATING_CSR,),
    Action.SUBMIT: (S.SUBMITTING,),
    Action.MAKE_SCEP: (S.GENERATING_SCEP_DATA,),
    Action.PRE_SAVE: (S.PRE_SAVE_CERT,),
    Action.SAVE_CERT: (S.SAVING_CERT,),
    Action.SAVE_CA_CERTS: (S.START_SAVING_CA_CERTS, S.SAVING_CA_CERTS),
    Action.SAVE_ONLY_CA_CERTS: (S.START_SAVING_ONLY_CA_CERTS, S.SAVING_ONLY_CA_CERTS),
    Action.READ_CERT: (S.READING_CERT,),
    Action.POST_SAVE: (),
    Action.NOTIFY_ISSUED: (S.NOTIFYING_ISSUED_SAVED,),
    Action.NOTIFY_REJECTED: (S.NOTIFYING_REJECTION,),
    Action.NOTIFY_SAVE_FAILED: (S.NOTIFYING_ISSUED_SAVE_FAILED,),
    Action.NOTIFY_CA_SAVE_FAILED: (S.NOTIFYING_ISSUED_CA_SAVE_FAILED,),
    Action.NOTIFY_ONLY_CA_SAVE_FAILED: (S.NOTIFYING_ONLY_CA_SAVE_FAILED,),
    Action.CHECK_EXPIRY: (),
}

_ACTIONS: dict[State, Action] = {
    S.NEWLY_ADDED: Action.READ_EXISTING,
    S.NEED_KEY_PAIR: Action.GENERATE_KEY,
    S.NEED_KEYINFO: Action.READ_KEYINFO,
    S.NEED_CSR: Action.MAKE_CSR,
    S.NEED_TO_SUBMIT: Action.SUBMIT,
    S.NEED_SCEP_DATA: Action.MAKE_SCEP,
    S.NEED_TO_SAVE_CERT: Action.PRE_SAVE,
    S.START_SAVING_CERT: Action.SAVE_CERT,
    S.NEED_TO_SAVE_CA_CERTS: Action.SAVE_CA_CERTS,
    S.NEED_TO_SAVE_ONLY_CA_CERTS: Action.SAVE_ONLY_CA_CERTS,
    S.NEED_TO_READ_CERT: Action.READ_CERT,
    S.POST_SAVED_CERT: Action.POST_SAVE,
    S.NEED_TO_NOTIFY_ISSUED_SAVED: Action.NOTIFY_ISSUED,
    S.NEED_TO_NOTIFY_REJECTION: Action.NOTIFY_REJECTED,
    S.NEED_TO_NOTIFY_ISSUED_SAVE_FAILED: Action.NOTIFY_SAVE_FAILED,
    S.NEED_TO_NOTIFY_ISSUED_CA_SAVE_FAILED: Action.NOTIFY_CA_SAVE_FAILED,
    S.NEED_TO_NOTIFY_ONLY_CA_SAVE_FAILED: Action.NOTIFY_ONLY_CA_SAVE_FAILED,
    S.MONITORING: Action.CHECK_EXPIRY,
}

# States with no work of their own that lead straight on (reached after a restart).
_FORWARD: dict[State, State] = {
    S.HAVE_KEY_PAIR: S.NEED_KEYINFO,
    S.HAVE_KEYINFO: S.NEED_CSR,
    S.HAVE_CSR: S.NEED_TO_SUBMIT,
    S.HAVE_SCEP_DATA: S.NEED_TO_SUBMIT,
    S.SAVED_CERT: S.NEED_TO_SAVE_CA_CERTS,
    S.CA_WORKING: S.NEED_TO_SUBMIT,
    S.CA_UNREACHABLE: S.NEED_TO_SUBMIT,
    S.NEED_TO_NOTIFY_VALIDITY: S.MONITORING,
}

# States where a request waits for time to pass before going on.
WAITING = frozenset({S.CA_WORKING, S.CA_UNREACHABLE, S.MONITORING})


def action_for(state: State) -> Action | None:
    """The work `state` calls for, or None when it only waits or is stuck."""
    return _ACTIONS.get(state)


def forward(state: State) -> State | None:
    """Where a workless, non-waiting state leads, if anywhere."""
    return _FORWARD.get(state)


_KEYGEN_FAILURE = {Outcome.PERMS: S.NEED_KEY_GEN_PERMS, Outcome.PIN: S.NEED_KEY_GEN_PIN,
                   Outcome.TOKEN: S.NEED_KEY_GEN_TOKEN}
_KEYINFO_FAILURE = {Outcome.PIN: S.NEED_KEYINFO_READ_PIN, Outcome.TOKEN: S.NEED_KEYINFO_READ_TOKEN}
_CSR_FAILURE = {Outcome.PIN: S.NEED_CSR_GEN_PIN, Outcome.TOKEN: S.NEED_CSR_GEN_TOKEN}
_CERTSAVE_FAILURE = {Outcome.PERMS: S.NEED_CERTSAVE_PERMS, Outcome.PIN: S.NEED_CERTSAVE_PIN,
                     Outcome.TOKEN: S.NEED_CERTSAVE_TOKEN}
_KEY_READY = (S.HAVE_KEY_PAIR, S.NEED_KEYINFO, S.READING_KEYINFO, S.HAVE_KEYINFO)


def _stuck(state: State) -> Step:
    return Step(state, rest=Rest.FOREVER)


def advance(state: State, outcome: Outcome, facts: Facts = Facts()) -> Step:
    """Where `outcome` of the work in `state` leads.  Raises ValueError if it cannot occur."""
    step = _advance(state, outcome, facts)
    if step is None:
        raise ValueError(f"no transition from {state} on {outcome}")
    return step


def _advance(state: State, outcome: Outcome, facts: Facts) -> Step | None:
    o = outcome
    if state is S.NEWLY_ADDED:
        deciding = (S.NEWLY_ADDED_DECIDING,)
        if o is Outcome.FOUND_CERT:
            if facts.ca_certs_to_save:
                return Step(S.NEED_TO_SAVE_ONLY_CA_CERTS, deciding)
            return Step(S.MONITORING, deciding, Rest.MONITOR)
        if o is Outcome.FOUND_KEY:
            return Step(S.NEED_CSR, deciding)
        if o is Outcome.NO_KEY:
            return Step(S.NEED_KEY_PAIR, deciding)
        if o is Outcome.NO_STORAGE:
            return Step(S.NEED_GUIDANCE, deciding, Rest.FOREVER)
        if o is Outcome.PIN:
            return _stuck(S.NEWLY_ADDED_NEED_KEYINFO_READ_PIN)
        if o is Outcome.TOKEN:
            return _stuck(S.NEWLY_ADDED_NEED_KEYINFO_READ_TOKEN)
        if o is Outcome.FAILED:
            return Step(S.NEWLY_ADDED, rest=Rest.SOON)
    elif state is S.NEED_KEY_PAIR:
        if o is Outcome.OK:
            return Step(S.NEED_CSR, _KEY_READY)
        if o in _KEYGEN_FAILURE:
            return _stuck(_KEYGEN_FAILURE[o])
        if o is Outcome.FAILED:
            return Step(S.NEED_KEY_PAIR, rest=Rest.SOON)
    elif state is S.NEED_KEYINFO:
        if o is Outcome.OK:
            return Step(S.NEED_CSR, (S.HAVE_KEYINFO,))
        if o is Outcome.NO_KEY:
            return Step(S.NEED_KEY_PAIR)
        if o in _KEYINFO_FAILURE:
            return _stuck(_KEYINFO_FAILURE[o])
        if o is Outcome.FAILED:
            return Step(S.NEED_KEY_PAIR, rest=Rest.SOON)
    elif state is S.NEED_CSR:
        if o is Outcome.OK:
            return Step(S.NEED_TO_SUBMIT, (S.HAVE_CSR,))
        if o is Outcome.NO_KEY:
            return Step(S.NEED_KEY_PAIR)
        if o in _CSR_FAILURE:
            return _stuck(_CSR_FAILURE[o])
        if o is Outcome.FAILED:
            return Step(S.NEED_CSR, rest=Rest.SOON)
    elif state is S.NEED_TO_SUBMIT:
        return _after_submit(o, facts)
    elif state is S.NEED_SCEP_DATA:
        if o is Outcome.OK:
            return Step(S.NEED_TO_SUBMIT, (S.HAVE_SCEP_DATA,))
        if o is Outcome.NEED_ENCRYPTION_CERT:
            return _stuck(S.NEED_SCEP_ENCRYPTION_CERT)
        if o is Outcome.NEED_RSA_KEY:
            return _stuck(S.NEED_SCEP_RSA_CLIENT_KEY)
        if o is Outcome.PIN:
            return _stuck(S.NEED_SCEP_GEN_PIN)
        if o is Outcome.TOKEN:
            return _stuck(S.NEED_SCEP_GEN_TOKEN)
        if o is Outcome.FAILED:
            return Step(S.NEED_SCEP_DATA, rest=Rest.SOON)
    elif state is S.NEED_TO_SAVE_CERT:
        if o is Outcome.OK:
            return Step(S.START_SAVING_CERT)
    elif state is S.START_SAVING_CERT:
        if o is Outcome.OK:
            return Step(S.NEED_TO_SAVE_CA_CERTS, (S.SAVED_CERT,))
        if o in _CERTSAVE_FAILURE:
            return _stuck(_CERTSAVE_FAILURE[o])
        if o is Outcome.FAILED:
            return Step(S.NEED_TO_NOTIFY_ISSUED_SAVE_FAILED)
    elif state is S.NEED_TO_SAVE_CA_CERTS:
        if o is Outcome.OK:
            return Step(S.NEED_TO_READ_CERT)
        if o is Outcome.PERMS:
            return _stuck(S.NEED_CA_CERT_SAVE_PERMS)
        if o is Outcome.FAILED:
            return Step(S.NEED_TO_NOTIFY_ISSUED_CA_SAVE_FAILED)
    elif state is S.NEED_TO_SAVE_ONLY_CA_CERTS:
        if o is Outcome.OK:
            return Step(S.MONITORING, rest=Rest.MONITOR)
        if o is Outcome.PERMS:
            return _stuck(S.NEED_ONLY_CA_CERT_SAVE_PERMS)
        if o is Outcome.FAILED:
            return Step(S.NEED_TO_NOTIFY_ONLY_CA_SAVE_FAILED)
    elif state is S.NEED_TO_READ_CERT:
        if o is Outcome.OK:
            return Step(S.POST_SAVED_CERT)
        if o is Outcome.FAILED:
            return Step(S.NEED_TO_READ_CERT, rest=Rest.SOON)
    elif state is S.POST_SAVED_CERT:
        if o is Outcome.OK:
            return Step(S.NEED_TO_NOTIFY_ISSUED_SAVED)
    elif state is S.NEED_TO_NOTIFY_ISSUED_SAVED:
        if o is Outcome.OK:
            return Step(S.MONITORING, rest=Rest.MONITOR)
    elif state is S.NEED_TO_NOTIFY_REJECTION:
        if o is Outcome.OK:
            return _stuck(S.CA_REJECTED)
    elif state is S.NEED_TO_NOTIFY_ISSUED_SAVE_FAILED:
        if o is Outcome.OK:
            return Step(S.START_SAVING_CERT, rest=Rest.SOON)
    elif state is S.NEED_TO_NOTIFY_ISSUED_CA_SAVE_FAILED:
        if o is Outcome.OK:
            return Step(S.NEED_TO_SAVE_CA_CERTS, rest=Rest.SOON)
    elif state is S.NEED_TO_NOTIFY_ONLY_CA_SAVE_FAILED:
        if o is Outcome.OK:
            return Step(S.MONITORING, rest=Rest.MONITOR)
    elif state is S.MONITORING:
        if o is Outcome.RENEW:
            return Step(S.NEED_CSR)
        if o is Outcome.REKEY:
            return Step(S.NEED_KEY_PAIR)
        if o is Outcome.NOTHING:
            return Step(S.MONITORING, rest=Rest.MONITOR)
    return None


def _after_submit(o: Outcome, facts: Facts) -> Step | None:
    if o is Outcome.NO_CA:
        return _stuck(S.NEED_CA)
    if o is Outcome.ISSUED:
        return Step(S.NEED_TO_SAVE_CERT)
    if o is Outcome.WAIT:
        return Step(S.CA_WORKING, rest=Rest.CA_DELAY)
    if o is Outcome.REJECTED:
        # certmonger: a request that already holds a certificate keeps monitoring it.
        if facts.has_cert:
            return Step(S.MONITORING, rest=Rest.MONITOR)
        return Step(S.NEED_TO_NOTIFY_REJECTION)
    if o is Outcome.UNREACHABLE:
        return Step(S.CA_UNREACHABLE, rest=Rest.UNREACHABLE)
    if o is Outcome.UNCONFIGURED:
        if facts.has_cert:
            return Step(S.MONITORING, rest=Rest.MONITOR)
        return _stuck(S.CA_UNCONFIGURED)
    if o is Outcome.NEED_GUIDANCE:
        return _stuck(S.NEED_GUIDANCE)
    if o is Outcome.NEED_REKEY:
        return Step(S.NEED_KEY_PAIR, rest=Rest.SOON)
    if o is Outcome.NEED_SCEP:
        return Step(S.NEED_SCEP_DATA)
    if o is Outcome.FAILED:
        return Step(S.NEED_TO_SUBMIT, rest=Rest.SOON)
    return None


# -- restarts ----------------------------------------------------------------------------

_RESET: dict[State, State] = {
    S.GENERATING_KEY_PAIR: S.NEED_KEY_PAIR,
    S.NEED_KEY_GEN_PERMS: S.NEED_KEY_PAIR,
    S.NEED_KEY_GEN_PIN: S.NEED_KEY_PAIR,
    S.NEED_KEY_GEN_TOKEN: S.NEED_KEY_PAIR,
    S.READING_KEYINFO: S.NEED_KEYINFO,
    S.NEED_KEYINFO_READ_PIN: S.NEED_KEYINFO,
    S.NEED_KEYINFO_READ_TOKEN: S.NEED_KEYINFO,
    S.NEED_CSR: S.HAVE_KEYINFO,
    S.GENERATING_CSR: S.HAVE_KEYINFO,
    S.NEED_CSR_GEN_PIN: S.HAVE_KEYINFO,
    S.NEED_CSR_GEN_TOKEN: S.HAVE_KEYINFO,
    S.GENERATING_SCEP_DATA: S.NEED_SCEP_DATA,
    S.NEED_SCEP_GEN_PIN: S.NEED_SCEP_DATA,
    S.NEED_SCEP_GEN_TOKEN: S.NEED_SCEP_DATA,
    S.NEED_SCEP_ENCRYPTION_CERT: S.NEED_SCEP_DATA,
    S.NEED_SCEP_RSA_CLIENT_KEY: S.NEED_SCEP_DATA,
    S.NEED_TO_SUBMIT: S.HAVE_CSR,
    S.SUBMITTING: S.HAVE_CSR,
    S.CA_WORKING: S.HAVE_CSR,
    S.CA_UNREACHABLE: S.HAVE_CSR,
    S.CA_UNCONFIGURED: S.HAVE_CSR,
    S.NEED_CA: S.HAVE_CSR,
    S.PRE_SAVE_CERT: S.NEED_TO_SAVE_CERT,
    S.START_SAVING_CERT: S.NEED_TO_SAVE_CERT,
    S.SAVING_CERT: S.NEED_TO_SAVE_CERT,
    S.NEED_CERTSAVE_PERMS: S.NEED_TO_SAVE_CERT,
    S.NEED_CERTSAVE_TOKEN: S.NEED_TO_SAVE_CERT,
    S.NEED_CERTSAVE_PIN: S.NEED_TO_SAVE_CERT,
    S.SAVED_CERT: S.NEED_TO_SAVE_CA_CERTS,
    S.START_SAVING_CA_CERTS: S.NEED_TO_SAVE_CA_CERTS,
    S.SAVING_CA_CERTS: S.NEED_TO_SAVE_CA_CERTS,
    S.NEED_CA_CERT_SAVE_PERMS: S.NEED_TO_SAVE_CA_CERTS,
    S.START_SAVING_ONLY_CA_CERTS: S.NEED_TO_SAVE_ONLY_CA_CERTS,
    S.SAVING_ONLY_CA_CERTS: S.NEED_TO_SAVE_ONLY_CA_CERTS,
    S.NEED_ONLY_CA_CERT_SAVE_PERMS: S.NEED_TO_SAVE_ONLY_CA_CERTS,
    S.READING_CERT: S.NEED_TO_READ_CERT,
    S.POST_SAVED_CERT: S.NEED_TO_NOTIFY_ISSUED_SAVED,
    S.NEED_TO_NOTIFY_VALIDITY: S.MONITORING,
    S.NOTIFYING_VALIDITY: S.MONITORING,
    S.NOTIFYING_REJECTION: S.NEED_TO_NOTIFY_REJECTION,
    S.NOTIFYING_ISSUED_SAVE_FAILED: S.NEED_TO_NOTIFY_ISSUED_SAVE_FAILED,
    S.NOTIFYING_ISSUED_CA_SAVE_FAILED: S.NEED_TO_NOTIFY_ISSUED_CA_SAVE_FAILED,
    S.NOTIFYING_ISSUED_SAVED: S.NEED_TO_NOTIFY_ISSUED_SAVED,
    S.NOTIFYING_ONLY_CA_SAVE_FAILED: S.NEED_TO_NOTIFY_ONLY_CA_SAVE_FAILED,
    S.NEWLY_ADDED_START_READING_KEYINFO: S.NEWLY_ADDED,
    S.NEWLY_ADDED_READING_KEYINFO: S.NEWLY_ADDED,
    S.NEWLY_ADDED_NEED_KEYINFO_READ_PIN: S.NEWLY_ADDED,
    S.NEWLY_ADDED_NEED_KEYINFO_READ_TOKEN: S.NEWLY_ADDED,
    S.NEWLY_ADDED_START_READING_CERT: S.NEWLY_ADDED,
    S.NEWLY_ADDED_READING_CERT: S.NEWLY_ADDED,
    S.NEWLY_ADDED_DECIDING: S.NEWLY_ADDED,
    S.INVALID: S.NEWLY_ADDED,
}


def reset(state: State) -> State:
    """Where a request stopped in `state` resumes (certmonger's restart mapping, §2.3).

    Work in progress falls back to the last stable point; CA_REJECTED, NEED_GUIDANCE and
    MONITORING stay; CA waits (unreachable, working, unconfigured, no CA) are retried.
    """
    return _RESET.get(state, state)


def resume_point(state: State) -> State:
    """The state worth persisting for `state`: what a restart would resume from."""
    return reset(state)
