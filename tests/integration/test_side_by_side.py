"""The stock certmonger and ours, side by side, driven by the stock getcert.

Each scenario is a list of getcert command lines. A test starts two private buses, the
stock daemon on one and ours on the other (each with its own scratch state and working
directory), and runs every step against both. The exit status, stdout and stderr of each
step must agree once `tests.support.normalize` has replaced what legitimately differs
between two runs (scratch paths, dates, generated nicknames and record names, the local
CA's UUID). A difference is allowed only when `ACCEPTED` lists it, exactly, with the
section of docs/compat.md that explains it; an accepted difference that no longer shows
fails too, so the table stays true.

The D-Bus tests at the end compare the daemons below getcert, on requests in each
resting state: introspection of every node, `GetAll` and `Get` of the properties, the
reply signatures and bodies of the `get_*` and `find_*` methods, and the errors
`add_request` answers for bad dictionaries. Their accepted differences are tables too.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from tests.support.bus import BUS_NAME, Daemon, Getcert, PrivateBus, StateDirs, have_stock
from tests.support.normalize import Normalizer

pytestmark = [
    pytest.mark.stock,
    pytest.mark.slow,
    pytest.mark.skipif(not have_stock(), reason="Debian's certmonger is not installed"),
]

T = TypeVar("T")

BASE = "/org/fedorahosted/certmonger"
MANAGER = "org.fedorahosted.certmonger"
CA_IFACE = "org.fedorahosted.certmonger.ca"
REQUEST_IFACE = "org.fedorahosted.certmonger.request"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
EXTENSION_IFACE = "org.fedorahosted.certmonger.pycertmonger1"
ABSENT = "<absent>"
ANY_TEXT = "<any non-empty text>"  # in an accepted difference: any explanation will do


@dataclass(frozen=True)
class OneOf:
    """In an accepted difference: a value that varies between runs of the same daemon."""

    values: tuple[Any, ...]

# The entries of docs/compat.md that explain the differences accepted below.
NO_SILENCE = "compat.md, D-Bus: calls certmonger never answered get an error reply"
OWN_NICKNAME = "compat.md, D-Bus: `modify` with the request's own nickname is not a duplicate"
CA_PATH = "compat.md, D-Bus: the request property `ca` holds the CA's real path"
EC_SIZE = "compat.md, D-Bus: EC keys without `KEY_SIZE` default to 256 bits"
LAST_CHECKED = "compat.md, D-Bus: `last-checked` and `get_cert_last_checked()` agree"
UNSET_EMPTY = "compat.md, D-Bus: unset versus empty"
EXTENSION = "compat.md, D-Bus: an extension interface for bulk reads"
MS_TEMPLATE = "compat.md, D-Bus: V2 certificate-template specifiers"
CERT_AS_SAVED = "compat.md, D-Bus: the certificate is given as it was saved"
REKEY_KEY_INFO = "compat.md, D-Bus: `key-type` and `key-size` follow a rekey"
CA_DATA_ERROR = "compat.md, Engine: a CA's `ca-error` says why its data could not be had"

# A CA helper speaking certmonger's helper protocol; its first argument picks the answer
# to SUBMIT and POLL: issue (sign the CSR with the test CA), working (a cookie, exit 1),
# reject (exit 2) or down (exit 3).
HELPER = """#!/bin/sh
ca_dir="$(dirname "$0")"
case "$CERTMONGER_OPERATION" in
  IDENTIFY) echo "Side-by-side test CA ($1)"; exit 0;;
  SUBMIT|POLL)
    case "$1" in
      issue)
        printf '%s\\n' "$CERTMONGER_CSR" | openssl x509 -req -in /dev/stdin \\
          -CA "$ca_dir/ca.crt" -CAkey "$ca_dir/ca.key" -set_serial 4660 -days 30 \\
          -copy_extensions copy 2>/dev/null || exit 3;;
      working) echo "cookie-$1"; exit 1;;
      reject) echo "Rejected for testing"; exit 2;;
      *) echo "Server is down for testing"; exit 3;;
    esac;;
  *) exit 6;;
esac
"""


@dataclass(frozen=True)
class Outcome:
    """What one getcert run showed: exit status, stdout and stderr (normalized)."""

    rc: int
    stdout: str
    stderr: str = ""


@dataclass(frozen=True)
class Accepted:
    """A difference docs/compat.md explains: what each daemon shows, and the reason.

    The values are whatever the comparison compares: `Outcome`s of a getcert step,
    normalized property values, or D-Bus replies.
    """

    stock: Any
    ours: Any
    reason: str


# A scenario step that restarts both daemons (they reload their records) instead of
# running getcert.
RESTART = "<restart the daemons>"

SCENARIOS: dict[str, list[str]] = {
    "requests_and_listings": [
        ("request -w -c SelfSign -I ss -f {w}/ss.crt -k {w}/ss.key "
         "-N CN=ss.example.test,O=Example -D ss.example.test -D www.example.test "
         "-E admin@example.test -A 192.0.2.1 -K host/ss.example.test@EXAMPLE.TEST "
         "-U id-kp-serverAuth -U id-kp-clientAuth -U 1.2.3.4 "
         "-u digitalSignature -u keyEncipherment -T prof -X iss "
         "-B 'touch {w}/pre' -C 'touch {w}/post' -F {w}/ss-ca.pem"),
        ("request -w -c local -I loc -f {w}/loc.crt -k {w}/loc.key -G EC "
         "-N CN=loc.example.test -D loc.example.test -F {w}/local-ca.pem"),
        ("request -w -c local -I rsa -f {w}/rsa.crt -k {w}/rsa.key -G RSA -g 3072 -P pw "
         "-N CN=rsa.example.test -u keyCertSign -u cRLSign -U id-kp-codeSigning"),
        "request -w -c SelfSign -I nss -d sql:{w}/nss -n srv -N CN=nss -G EC -g 384",
        "request -w -c SelfSign -f {w}/gen.crt -k {w}/gen.key",
        "request -w -I noca -f {w}/noca.crt -k {w}/noca.key -N CN=noca",
        "list", "list -v", "list -u", "list -c local", "list -c SelfSign", "list -r",
        "list -t", "list -i loc", "list -i nosuch", "list -f {w}/ss.crt",
        "list -f {w}/none.crt", "list -d sql:{w}/nss -n srv", "list -d {w}/nss -n srv",
        "list-cas", "list-cas -v", "list-cas -c local", "list-cas -c nosuch",
        "status -i ss -v", "status -i ss", "status -i noca -v", "status -i nosuch",
        "status -f {w}/loc.crt -v",
        RESTART, "list", "list-cas",
    ],
    "request_lifecycle": [
        ("request -w -c SelfSign -I life -f {w}/life.crt -k {w}/life.key "
         "-N CN=life.example.test -D life.example.test"),
        "resubmit -w -i life -D life2.example.test", "list -i life",
        "rekey -w -i life -G EC", "list -i life",
        "refresh -i life", "refresh -a", "status -i life -v",
        "stop-tracking -i life", "list",
        "start-tracking -w -c SelfSign -I again -f {w}/life.crt -k {w}/life.key",
        "list -i again",
        "start-tracking -i again -R -T newprof", "list -i again",
        "start-tracking -i again -I again",
        "start-tracking -f {w}/life.crt -D other.example.test", "list -f {w}/life.crt",
        "stop-tracking -f {w}/life.crt", "list", "list-cas -c SelfSign",
        "start-tracking -w -c SelfSign -I certonly -f {w}/life.crt", "list -i certonly",
        "start-tracking -w -c local -I newpair -f {w}/new.crt -k {w}/new.key",
        ("resubmit -w -i newpair -N CN=changed,O=Org -E x@example.test "
         "-U id-kp-clientAuth -u digitalSignature"),
        "list -i newpair",
        "request -w -I nokey -f {w}/nokey.crt", "list -r", "status -i nokey -v",
    ],
    "external_cas": [
        "add-ca -c issuing -e '{helper} issue'",
        "add-ca -c working -e '{helper} working'",
        "add-ca -c rejecting -e '{helper} reject'",
        "add-ca -c down -e '{helper} down'",
        "add-ca -c DOWN -e '{helper} down'",
        "list-cas", "list-cas -v -c issuing",
        ("request -w -c issuing -I i1 -f {w}/i1.crt -k {w}/i1.key -N CN=i1.example.test "
         "-D i1.example.test"),
        "request -w -c working -I w1 -f {w}/w1.crt -k {w}/w1.key -N CN=w1",
        "request -w -c rejecting -I r1 -f {w}/r1.crt -k {w}/r1.key -N CN=r1",
        "request -w -c down -I d1 -f {w}/d1.crt -k {w}/d1.key -N CN=d1 -T prof -X iss",
        "list", "list -r", "list -t",
        "status -i i1", "status -i w1 -v", "status -i r1 -v", "status -i d1 -v",
        "refresh -a",
        "modify-ca -c down -e '{helper} issue'", "list-cas -c down",
        "resubmit -w -i d1", "list -i d1",
        "refresh-ca -c issuing", "refresh-ca -a",
        "remove-ca -c rejecting", "remove-ca -c rejecting", "list-cas", "list -i r1",
    ],
    "errors": [
        "request -c nosuch -f {w}/x.crt",
        "request -w -c SelfSign -I rel -f rel.crt -k rel.key",
        "request -c SelfSign -f /nonexistent/dir/x.crt",
        "request -c SelfSign -f {w}/x.crt -k /nonexistent/dir/x.key",
        "request -c SelfSign -f {w}",
        "request -c SelfSign -f {w}/x.crt -k {w}",
        "request -w -c SelfSign -I dup -f {w}/dup.crt -k {w}/dup.key",
        "request -c SelfSign -I dup -f {w}/dup2.crt -v",
        "request -c SelfSign -I DUP -f {w}/dup3.crt -v",
        "request -c SelfSign -I other -f {w}/dup.crt -v",
        "request -c SelfSign -I other -f {w}/o.crt -k {w}/dup.key -v",
        "request -c SelfSign -k {w}/k.key",
        "request -c SelfSign -d {w}/nss",
        "request -c SelfSign -n nick",
        "request -c SelfSign -f {w}/x.crt -G DSA",
        "request -c SelfSign -f {w}/x.crt -U junk",
        "request -c SelfSign -f {w}/x.crt -u junk",
        "request -c SelfSign -f {w}/x.crt --ms-template-spec bad -v",
        "request -c SelfSign -f {w}/x.crt --ms-template-spec 1.2.3:x -v",
        "request -c SelfSign -f {w}/x.crt -p rel.pin -v",
        "status", "status -i nosuch", "stop-tracking", "stop-tracking -i nosuch",
        "resubmit -i nosuch", "start-tracking -i nosuch", "start-tracking -i dup -I DUP -v",
        "start-tracking -i dup -I rel -v",
        "list",
    ],
}

# (scenario, step) -> the difference docs/compat.md explains.
ACCEPTED: dict[tuple[str, str], Accepted] = {
    ("request_lifecycle", "start-tracking -i again -I again"): Accepted(
        Outcome(1, 'There is already a request with the nickname "again".\n'),
        Outcome(0, 'Request "again" modified.\n'),
        OWN_NICKNAME),
}


# --- the two daemons -----------------------------------------------------------------


@dataclass
class Side:
    """One daemon on its own bus, with its working directory and its normalizer."""

    name: str
    bus: PrivateBus
    dirs: StateDirs
    daemon: Daemon
    work: Path
    normalizer: Normalizer
    client_env: dict[str, str]

    def getcert(self, step: str, words: dict[str, str]) -> Outcome:
        """Runs one stock getcert command line against this daemon (or `RESTART`s it)."""
        if step == RESTART:
            self.daemon.restart()
            return Outcome(0, "")
        args = [w.format(w=self.work, **words) for w in shlex.split(step)]
        result = Getcert(self.bus, stock=True)(*args, env=self.client_env,
                                                cwd=str(self.work))
        return Outcome(result.returncode, self.normalizer.text(result.stdout),
                       self.normalizer.text(result.stderr))

    def dbus(self, calls: Callable[[MessageBus], Any]) -> Any:
        """Runs `calls(bus)` (a coroutine function) on a fresh connection to this bus."""
        async def go() -> Any:
            client = await MessageBus(bus_address=self.bus.address).connect()
            try:
                return await calls(client)
            finally:
                client.disconnect()
        return asyncio.run(go())


@dataclass
class Pair:
    """The stock daemon and ours, and what their scenarios share."""

    stock: Side
    ours: Side
    words: dict[str, str]

    def both(self, fn: Callable[[Side], T]) -> tuple[T, T]:
        """`fn` on each side at once (the daemons are independent)."""
        with ThreadPoolExecutor(2) as pool:
            theirs = pool.submit(fn, self.stock)
            ours = pool.submit(fn, self.ours)
            return theirs.result(), ours.result()

    def getcert(self, step: str) -> tuple[Outcome, Outcome]:
        """One scenario step on each side."""
        return self.both(partial(Side.getcert, step=step, words=self.words))


def _make_shared(where: Path) -> dict[str, str]:
    """The test CA and its helper, and the client's Kerberos settings; the client env."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
         "-subj", "/O=Example/CN=Side-by-side Test CA", "-keyout", str(where / "ca.key"),
         "-out", str(where / "ca.crt")],
        check=True, capture_output=True)
    helper = where / "helper.sh"
    helper.write_text(HELPER)
    helper.chmod(0o755)
    # getcert's default template names host/<hostname>@<default realm>.
    krb5 = where / "krb5.conf"
    krb5.write_text("[libdefaults]\n default_realm = EXAMPLE.TEST\n")
    return {"TZ": "UTC", "KRB5_CONFIG": str(krb5)}


def _start_side(name: str, root: Path, shared: Path, client_env: dict[str, str]) -> Side:
    bus = PrivateBus(root / "bus").start()
    dirs = StateDirs(root / "state")
    work = root / "work"
    work.mkdir()
    (work / "nss").mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{work}/nss", "--empty-password"],
                   check=True, capture_output=True)
    daemon = Daemon(bus, dirs, stock=name == "stock")
    try:
        daemon.start()
    except BaseException:
        bus.stop()
        raise
    normalizer = Normalizer({str(work): "{w}", str(dirs.root): "{state}",
                             str(shared): "{shared}"})
    return Side(name, bus, dirs, daemon, work, normalizer, client_env)


def _stop_side(side: Side) -> None:
    side.daemon.stop()
    side.bus.stop()


@contextmanager
def _running_pair(root: Path) -> Iterator[Pair]:
    shared = root / "shared"
    client_env = _make_shared(shared)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_start_side, name, root / name, shared, client_env)
                   for name in ("stock", "ours")]
    failures = [error for f in futures if (error := f.exception()) is not None]
    sides = [f.result() for f in futures if f.exception() is None]
    if failures:
        for side in sides:
            _stop_side(side)
        raise failures[0]
    both = Pair(sides[0], sides[1], {"helper": str(shared / "helper.sh")})
    try:
        yield both
    finally:
        both.both(_stop_side)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """The stock daemon and ours, each on its own private bus, started together."""
    with _running_pair(tmp_path) as both:
        yield both


# --- getcert scenarios ---------------------------------------------------------------


def _show(outcome: Outcome) -> list[str]:
    return [f"rc={outcome.rc}", *outcome.stdout.splitlines(),
            *(f"stderr: {line}" for line in outcome.stderr.splitlines())]


def _difference(step: str, stock: Outcome, ours: Outcome) -> str:
    diff = difflib.unified_diff(_show(stock), _show(ours), "stock", "ours", lineterm="")
    return f"$ getcert {step}\n" + "\n".join(diff)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_stock_getcert_sees_the_same_from_both_daemons(scenario: str, pair: Pair) -> None:
    problems = []
    for step in SCENARIOS[scenario]:
        stock, ours = pair.getcert(step)
        accepted = ACCEPTED.get((scenario, step))
        if accepted is None:
            if stock != ours:
                problems.append(_difference(step, stock, ours))
        elif (stock, ours) != (accepted.stock, accepted.ours):
            problems.append(f"accepted difference ({accepted.reason}) changed:\n"
                            + _difference(step, stock, ours))
    assert not problems, "\n\n".join(problems)


def test_every_accepted_difference_belongs_to_a_scenario_step() -> None:
    for scenario, step in ACCEPTED:
        assert step in SCENARIOS.get(scenario, []), (scenario, step)


# --- D-Bus ---------------------------------------------------------------------------

# Requests and CAs the D-Bus comparisons look at: one of each kind of reply.
DBUS_SETUP = [
    ("request -w -c SelfSign -I ss -f {w}/ss.crt -k {w}/ss.key -N CN=ss.example.test "
     "-D ss.example.test -E admin@example.test -K host/ss.example.test@EXAMPLE.TEST "
     "-u digitalSignature -U id-kp-clientAuth -T prof -B true -C true -P secret"),
    "request -w -c local -I loc -f {w}/loc.crt -k {w}/loc.key -G EC -N CN=loc.example.test",
    "add-ca -c down -e '{helper} down'",
    "add-ca -c working -e '{helper} working'",
    "add-ca -c rejecting -e '{helper} reject'",
    "request -w -c down -I d1 -f {w}/d1.crt -k {w}/d1.key -N CN=d1",
    "request -w -c working -I w1 -f {w}/w1.crt -k {w}/w1.key -N CN=w1",
    "request -w -c rejecting -I r1 -f {w}/r1.crt -k {w}/r1.key -N CN=r1",
    "request -w -I noca -f {w}/noca.crt -k {w}/noca.key -N CN=noca",
    "request -w -c SelfSign -I rk -f {w}/rk.crt -k {w}/rk.key -N CN=rk",
    "rekey -w -i rk -G EC -g 384",
    "request -w -c SelfSign -I nss -d sql:{w}/nss -n srv -N CN=nss -D nss.example.test",
]
DBUS_REQUESTS = ["ss", "loc", "d1", "w1", "r1", "noca", "rk", "nss"]
DBUS_CAS = ["SelfSign", "IPA", "dogtag-ipa-renew-agent", "local", "down", "working",
            "rejecting"]


def _ca(n: int) -> Accepted:
    return Accepted(f"{BASE}/requests/CA{n}", f"{BASE}/cas/CA{n}", CA_PATH)


_ISSUED = {"cert": Accepted("<PEM CERTIFICATE>\n", "<PEM CERTIFICATE>", CERT_AS_SAVED),
           "last-checked": Accepted(0, "<time>", LAST_CHECKED)}
_WAITING = {"last-checked": Accepted(0, "<time>", LAST_CHECKED)}
# certmonger lists a certificate's empty name lists in GetAll until it restarts.
_NO_NAMES = {name: Accepted([], ABSENT, UNSET_EMPTY) for name in ("email", "principal")}
_NO_HOSTNAMES = {"hostname": Accepted([], ABSENT, UNSET_EMPTY)}

# nickname -> property -> the difference in GetAll (normalized values; ABSENT: left out).
GETALL_ACCEPTED: dict[str, dict[str, Accepted]] = {
    "ss": {**_ISSUED, "ca": _ca(1)},
    "loc": {**_ISSUED, **_NO_NAMES, **_NO_HOSTNAMES, "ca": _ca(4),
            "key-size": Accepted(521, 256, EC_SIZE)},
    "d1": {**_WAITING, "ca": _ca(5)},
    "w1": {**_WAITING, "ca": _ca(6)},
    "r1": {**_WAITING, "ca": _ca(7)},
    "noca": {},
    "rk": {**_ISSUED, **_NO_NAMES, **_NO_HOSTNAMES, "ca": _ca(1),
           "key-type": Accepted("RSA", "EC", REKEY_KEY_INFO),
           "key-size": Accepted(2048, 384, REKEY_KEY_INFO)},
    "nss": {**_ISSUED, **_NO_NAMES, "ca": _ca(1)},
}
CA_GETALL_ACCEPTED: dict[str, dict[str, Accepted]] = {
    # Neither is configured on a host that is no IPA client.
    "IPA": {"ca-error": Accepted(ABSENT, ANY_TEXT, CA_DATA_ERROR)},
    "dogtag-ipa-renew-agent": {"ca-error": Accepted(ABSENT, ANY_TEXT, CA_DATA_ERROR)},
    # certmonger keeps the (empty) output of saving the local CA's certificate, once it
    # has saved it: whether it has by now depends on timing.
    "local": {"ca-error": Accepted(OneOf(("", ABSENT)), ABSENT, UNSET_EMPTY)},
}

_CERT_DATA = Accepted(("return", None, "s", ["<PEM CERTIFICATE>\n"]),
                      ("return", None, "s", ["<PEM CERTIFICATE>"]), CERT_AS_SAVED)
# nickname -> get_* method -> the difference in its reply (kind, error, signature, body).
GETTERS_ACCEPTED: dict[str, dict[str, Accepted]] = {
    "ss": {"get_cert_data": _CERT_DATA},
    "loc": {"get_cert_data": _CERT_DATA,
            "get_key_type_and_size": Accepted(("return", None, "sx", ["EC", 521]),
                                              ("return", None, "sx", ["EC", 256]), EC_SIZE)},
    "rk": {"get_cert_data": _CERT_DATA,
           "get_key_type_and_size": Accepted(("return", None, "sx", ["RSA", 2048]),
                                             ("return", None, "sx", ["EC", 384]),
                                             REKEY_KEY_INFO)},
    "nss": {"get_cert_data": _CERT_DATA},
}


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Both daemons holding the same requests and CAs (`DBUS_SETUP`), for read-only tests."""
    with _running_pair(tmp_path_factory.mktemp("dbus")) as both:
        for step in DBUS_SETUP:
            stock, ours = both.getcert(step)
            assert stock == ours, _difference(step, stock, ours)
        yield both


async def _call(bus: MessageBus, path: str, interface: str, member: str,
                signature: str = "", body: list[Any] | None = None,
                timeout: float = 10) -> Message | None:
    """One call; None when no reply came within `timeout` seconds."""
    try:
        return await asyncio.wait_for(bus.call(Message(
            destination=BUS_NAME, path=path, interface=interface, member=member,
            signature=signature, body=body or [])), timeout)
    except TimeoutError:
        return None


def _unwrap(value: Any) -> Any:
    if isinstance(value, Variant):
        return _unwrap(value.value)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _reply(side: Side, reply: Message | None,
           fields: list[str] | None = None) -> tuple[Any, ...]:
    """A reply as (kind, error name, signature, normalized body)."""
    if reply is None:
        return ("no reply",)
    body = _unwrap(reply.body)
    if fields:
        body = [side.normalizer.value(v, f) for v, f in zip(body, fields, strict=False)]
    else:
        body = side.normalizer.value(body)
    kind = "error" if reply.message_type == MessageType.ERROR else "return"
    return kind, reply.error_name, reply.signature, body


async def _path_of(bus: MessageBus, kind: str, nickname: str) -> str:
    reply = await _call(bus, BASE, MANAGER, f"find_{kind}_by_nickname", "s", [nickname])
    assert reply is not None and reply.message_type == MessageType.METHOD_RETURN
    assert reply.body, f"no {kind} {nickname!r}"
    return str(reply.body[0])


def _matches(value: Any, want: Any) -> bool:
    if isinstance(want, OneOf):
        return value in want.values
    if want == ANY_TEXT:
        return isinstance(value, str) and value != ""
    return bool(value == want)


def _as_accepted(got: tuple[Any, Any], want: Accepted) -> bool:
    return _matches(got[0], want.stock) and _matches(got[1], want.ours)


def _unexplained(stock: dict[str, Any], ours: dict[str, Any],
                 accepted: dict[str, Accepted]) -> list[str]:
    """Keys whose values differ other than as `accepted` says (both ways round)."""
    problems = []
    for key in sorted(set(stock) | set(ours) | set(accepted)):
        got = (stock.get(key, ABSENT), ours.get(key, ABSENT))
        want = accepted.get(key)
        if want is None and got[0] != got[1]:
            problems.append(f"{key}: stock {got[0]!r}, ours {got[1]!r}")
        elif want is not None and not _as_accepted(got, want):
            problems.append(f"{key}: stock {got[0]!r}, ours {got[1]!r}; accepted "
                            f"({want.reason}): stock {want.stock!r}, ours {want.ours!r}")
    return problems


# Introspection ------------------------------------------------------------------------

_CHILD_NODE = re.compile(r'^ <node name="([^"]+)"/>$', re.MULTILINE)
_EXTENSION_BLOCK = re.compile(
    rf' <interface name="{re.escape(EXTENSION_IFACE)}">\n.*? </interface>\n', re.DOTALL)


def _introspect_tree(side: Side) -> dict[str, str]:
    """Every node's introspection XML, from "/" down."""
    async def walk(bus: MessageBus) -> dict[str, str]:
        found: dict[str, str] = {}
        todo = ["/"]
        while todo:
            path = todo.pop(0)
            reply = await _call(bus, path, INTROSPECTABLE, "Introspect")
            assert reply is not None and reply.message_type == MessageType.METHOD_RETURN
            found[path] = reply.body[0]
            todo += [f"{path.rstrip('/')}/{child}"
                     for child in _CHILD_NODE.findall(reply.body[0])]
        return found
    return side.dbus(walk)


def test_every_node_introspects_alike(populated: Pair) -> None:
    stock, ours = populated.both(_introspect_tree)
    assert sorted(ours) == sorted(stock)
    assert f"{BASE}/requests/Request8" in stock and f"{BASE}/cas/CA7" in stock
    problems = []
    for path, xml in stock.items():
        mine = ours[path]
        if path == BASE:  # listed after certmonger's own interfaces
            assert len(_EXTENSION_BLOCK.findall(mine)) == 1, EXTENSION
            assert mine.index(EXTENSION_IFACE) > mine.rindex(
                '<interface name="org.fedorahosted.certmonger">'), EXTENSION
            mine = _EXTENSION_BLOCK.sub("", mine)
        if mine != xml:
            problems.append(f"{path}:\n" + "\n".join(difflib.unified_diff(
                xml.splitlines(), mine.splitlines(), "stock", "ours", lineterm="")))
    assert not problems, "\n\n".join(problems)


# Properties ---------------------------------------------------------------------------


def _getall(side: Side, kind: str, nickname: str) -> dict[str, Any]:
    iface = REQUEST_IFACE if kind == "request" else CA_IFACE

    async def calls(bus: MessageBus) -> dict[str, Any]:
        path = await _path_of(bus, kind, nickname)
        reply = await _call(bus, path, PROPERTIES, "GetAll", "s", [iface])
        assert reply is not None and reply.signature == "a{sv}", reply
        return side.normalizer.value(_unwrap(reply.body[0]))
    return side.dbus(calls)


def test_the_accepted_getall_differences_name_known_objects() -> None:
    assert set(GETALL_ACCEPTED) == set(DBUS_REQUESTS)
    assert set(CA_GETALL_ACCEPTED) <= set(DBUS_CAS)
    assert set(GETTERS_ACCEPTED) <= set(DBUS_REQUESTS)


@pytest.mark.parametrize("nickname", DBUS_REQUESTS)
def test_getall_of_a_request_matches(populated: Pair, nickname: str) -> None:
    stock, ours = populated.both(lambda side: _getall(side, "request", nickname))
    assert stock["status"] == ours["status"] != ""
    problems = _unexplained(stock, ours, GETALL_ACCEPTED[nickname])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("nickname", DBUS_CAS)
def test_getall_of_a_ca_matches(populated: Pair, nickname: str) -> None:
    stock, ours = populated.both(lambda side: _getall(side, "ca", nickname))
    assert stock["nickname"] == ours["nickname"] == nickname
    problems = _unexplained(stock, ours, CA_GETALL_ACCEPTED.get(nickname, {}))
    assert not problems, "\n".join(problems)


def _get_each(side: Side, nickname: str, names: list[str]) -> dict[str, tuple[Any, ...]]:
    async def calls(bus: MessageBus) -> dict[str, tuple[Any, ...]]:
        path = await _path_of(bus, "request", nickname)
        return {name: _reply(side, await _call(bus, path, PROPERTIES, "Get", "ss",
                                               [REQUEST_IFACE, name]), [name])
                for name in names}
    return side.dbus(calls)


_PROPERTY = re.compile(r'<property name="([^"]+)"')


def test_get_of_each_property_replies_alike(populated: Pair) -> None:
    # Get answers unset strings with an empty body; GetAll leaves them out.
    xml = _introspect_tree(populated.stock)[f"{BASE}/requests/Request1"]
    names = _PROPERTY.findall(xml)
    assert "template-ms-certificate-template" in names
    problems = []
    for nickname in ("ss", "d1", "noca"):
        stock, ours = populated.both(partial(_get_each, nickname=nickname, names=names))
        accepted = {
            name: Accepted(("return", None, "v", [want.stock]),
                           ("return", None, "v", [want.ours]) if want.ours != ABSENT
                           else ("return", None, "", []), want.reason)
            for name, want in GETALL_ACCEPTED[nickname].items()}
        # ...except that Get of an empty list is an empty list in both.
        for name, want in GETALL_ACCEPTED[nickname].items():
            if want.stock == [] and want.ours == ABSENT:
                accepted.pop(name)
        problems += [f"{nickname}: {p}" for p in _unexplained(stock, ours, accepted)]
    assert not problems, "\n".join(problems)


# Methods ------------------------------------------------------------------------------

# Each get_* method, with the names that tell the normalizer what its reply fields are.
REQUEST_GETTERS: dict[str, list[str] | None] = {
    "get_nickname": None, "get_autorenew": None, "get_cert_data": None,
    "get_cert_info": ["issuer", "serial", "subject", "not-valid-after", "email", "hostname",
                      "principal", "ku", "eku", "not-valid-before"],
    "get_cert_last_checked": ["last-checked"], "get_cert_storage_info": None,
    "get_csr_data": None, "get_csr_info": None, "get_key_pin": None,
    "get_key_pin_file": None, "get_key_storage_info": None, "get_key_type_and_size": None,
    "get_monitoring": None, "get_notification_info": None, "get_status": None,
    "get_ca": None, "get_submitted_cookie": None, "get_ca_error": None,
    "get_submitted_date": ["submitted-date"],
}
CA_GETTERS = ["get_nickname", "get_is_default", "get_type", "get_serial", "get_location",
              "get_issuer_names", "get_config_file_path"]
MANAGER_GETTERS = ["get_known_cas", "get_requests", "get_supported_key_types",
                   "get_supported_key_storage", "get_supported_cert_storage"]


def _getters(side: Side, kind: str, nickname: str) -> dict[str, tuple[Any, ...]]:
    if kind == "request":
        members, iface = REQUEST_GETTERS, REQUEST_IFACE
    else:
        members, iface = dict.fromkeys(CA_GETTERS), CA_IFACE

    async def calls(bus: MessageBus) -> dict[str, tuple[Any, ...]]:
        path = await _path_of(bus, kind, nickname)
        return {member: _reply(side, await _call(bus, path, iface, member), fields)
                for member, fields in members.items()}
    return side.dbus(calls)


@pytest.mark.parametrize("nickname", DBUS_REQUESTS)
def test_request_getters_reply_alike(populated: Pair, nickname: str) -> None:
    stock, ours = populated.both(lambda side: _getters(side, "request", nickname))
    problems = _unexplained(stock, ours, GETTERS_ACCEPTED.get(nickname, {}))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("nickname", DBUS_CAS)
def test_ca_getters_reply_alike(populated: Pair, nickname: str) -> None:
    stock, ours = populated.both(lambda side: _getters(side, "ca", nickname))
    problems = _unexplained(stock, ours, {})
    assert not problems, "\n".join(problems)


def _manager_calls(side: Side) -> dict[str, tuple[Any, ...]]:
    async def calls(bus: MessageBus) -> dict[str, tuple[Any, ...]]:
        got = {member: _reply(side, await _call(bus, BASE, MANAGER, member))
               for member in MANAGER_GETTERS}
        for kind, name in (("request", "ss"), ("request", "SS"), ("request", "nosuch"),
                           ("ca", "local"), ("ca", "LOCAL"), ("ca", "nosuch")):
            member = f"find_{kind}_by_nickname"
            got[f"{member}({name})"] = _reply(
                side, await _call(bus, BASE, MANAGER, member, "s", [name]))
        got["GetAll"] = _reply(side, await _call(bus, BASE, PROPERTIES, "GetAll", "s",
                                                 [MANAGER]))
        return got
    return side.dbus(calls)


def test_manager_methods_reply_alike(populated: Pair) -> None:
    stock, ours = populated.both(_manager_calls)
    assert stock["find_request_by_nickname(nosuch)"] == ("return", None, "", [])
    problems = _unexplained(stock, ours, {})
    assert not problems, "\n".join(problems)


# add_request checks -------------------------------------------------------------------


def _file_request(w: Path, name: str, **extra: Variant) -> dict[str, Variant]:
    return {"CERT_STORAGE": Variant("s", "FILE"),
            "CERT_LOCATION": Variant("s", f"{w}/{name}.crt"),
            "KEY_STORAGE": Variant("s", "FILE"),
            "KEY_LOCATION": Variant("s", f"{w}/{name}.key"), **extra}


def _text(value: str) -> Variant:
    return Variant("s", value)


def _bad_requests(w: Path) -> dict[str, dict[str, Variant]]:
    """add_request dictionaries the daemon must refuse, by what is wrong with them.

    getcert checks most of these itself, so only a raw call reaches the daemon's checks.
    """
    file_cert = {"CERT_STORAGE": _text("FILE"), "CERT_LOCATION": _text(f"{w}/k.crt")}
    return {
        "no storage": {"NICKNAME": _text("x")},
        "bogus storage": {"CERT_STORAGE": _text("BOGUS")},
        "no location": {"CERT_STORAGE": _text("FILE")},
        "relative location": {"CERT_STORAGE": _text("FILE"),
                              "CERT_LOCATION": _text("rel.crt")},
        "missing parent": {"CERT_STORAGE": _text("FILE"),
                           "CERT_LOCATION": _text("/nonexistent/dir/x.crt")},
        "location is a directory": {"CERT_STORAGE": _text("FILE"),
                                    "CERT_LOCATION": _text(str(w))},
        "key location is a directory": _file_request(w, "kd", KEY_LOCATION=_text(str(w))),
        "relative key location": _file_request(w, "kr", KEY_LOCATION=_text("rel.key")),
        "nssdb without nickname": {"CERT_STORAGE": _text("NSSDB"),
                                   "CERT_LOCATION": _text(str(w))},
        "file key without location": {**file_cert, "KEY_STORAGE": _text("FILE")},
        "bogus key storage": {**file_cert, "KEY_STORAGE": _text("BOGUS")},
        "unknown CA": _file_request(w, "ca", CA=Variant("o", f"{BASE}/cas/CA99")),
        "DSA key": _file_request(w, "dsa", KEY_TYPE=_text("DSA")),
        "relative pin file": _file_request(w, "pin", KEY_PIN_FILE=_text("relpin")),
        "bad template spec": _file_request(
            w, "ms", **{"template-ms-certificate-template": _text("bad")}),
        "relative root-cert-files": _file_request(
            w, "rcf", **{"root-cert-files": Variant("as", ["rel.pem"])}),
        "duplicate nickname": _file_request(w, "dup2", NICKNAME=_text("FIRST")),
        "duplicate certificate": _file_request(w, "first", NICKNAME=_text("second")),
        "duplicate key": _file_request(w, "dup3", KEY_LOCATION=_text(f"{w}/first.key")),
        "empty dictionary": {},
        # Last: ours accepts it, and a new request changes what later calls would see.
        "template spec 2.999": _file_request(
            w, "ms2", **{"template-ms-certificate-template": _text("2.999:1")}),
    }


ADD_REQUEST_ACCEPTED = {
    "empty dictionary": Accepted(
        ("no reply",),
        ("error", "org.fedorahosted.certmonger.missing_arg", "ss",
         ["Certificate storage type not specified.", "CERT_STORAGE"]),
        NO_SILENCE),
    "template spec 2.999": Accepted(
        ("error", "org.fedorahosted.certmonger.bad_arg", "ss",
         ["Invalid V2 certificate template specifier: 2.999:1",
          "template-ms-certificate-template"]),
        ("return", None, "bo", [True, f"{BASE}/requests/Request2"]),
        MS_TEMPLATE),
}


def _add_requests(side: Side) -> dict[str, tuple[Any, ...]]:
    async def calls(bus: MessageBus) -> dict[str, tuple[Any, ...]]:
        first = _file_request(side.work, "first", NICKNAME=_text("first"))
        got = {"first": _reply(side, await _call(bus, BASE, MANAGER, "add_request",
                                                 "a{sv}", [first]))}
        for what, template in _bad_requests(side.work).items():
            # certmonger never answers some calls: do not wait long for it.
            got[what] = _reply(side, await _call(bus, BASE, MANAGER, "add_request",
                                                 "a{sv}", [template], timeout=1.5))
        return got
    return side.dbus(calls)


def test_add_request_refuses_bad_dictionaries_alike(pair: Pair) -> None:
    stock, ours = pair.both(_add_requests)
    assert stock["first"] == ("return", None, "bo", [True, f"{BASE}/requests/Request1"])
    assert stock["missing parent"][:3] == ("error", "org.fedorahosted.certmonger.bad_arg",
                                           "ss")
    problems = _unexplained(stock, ours, ADD_REQUEST_ACCEPTED)
    assert not problems, "\n".join(problems)
