"""Our getcert and the stock one, side by side, against a real daemon.

Each scenario is a list of command lines. It runs once with the stock client and once
with ours, against the same daemon (reset in between), and the two transcripts of
stdout, stderr and exit status must agree once the things that legitimately differ
are normalised: the scratch directory, dates, generated nicknames, the SelfSign
serial counter, and the intermediate states `-w -v` happens to catch while polling.

The daemon is the stock certmonger; the same scenarios also run against ours
(``[ours]``), which is skipped while `pycertmonger.daemon` cannot be imported.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bus import Daemon, Getcert, PrivateBus, StateDirs, have_stock

pytestmark = [
    pytest.mark.stock,
    pytest.mark.skipif(not have_stock(), reason="Debian's certmonger is not installed"),
]

BUILTIN_CAS = {"SelfSign", "IPA", "dogtag-ipa-renew-agent", "local"}

HELPER = """#!/bin/sh
case "$CERTMONGER_OPERATION" in
  IDENTIFY) echo "Test CA $1"; exit 0;;
  GET-DEFAULT-TEMPLATE) echo "defprof"; exit 0;;
  SUBMIT|POLL)
    case "$1" in
      reject) echo "Rejected for testing"; exit 2;;
      working) echo "cookie-1"; exit 1;;
      *) echo "Server is down for testing"; exit 3;;
    esac;;
  *) exit 6;;
esac
"""

PEM = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"

# Each step is a command line; "{w}" is the scratch directory of the run, "{helper}"
# a test CA helper. A step may start with a program name other than getcert.
SCENARIOS: dict[str, list[str]] = {
    "selfsign_request_and_listings": [
        "request -f {w}/a.crt -k {w}/a.key -c SelfSign -I a -w -v",
        "list", "list -v", "list -u", "list -t", "list -r", "list -i a", "list -f {w}/a.crt",
        "status -i a -v", "status -f {w}/a.crt", "list-cas", "list-cas -v",
    ],
    "local_request_with_names": [
        ("request -f {w}/l.crt -k {w}/l.key -c local -I l1 -N CN=l1.example.test "
         "-D l1.example.test -E admin@example.test -K host/l1.example.test "
         "-u digitalSignature -u keyEncipherment -U id-kp-clientAuth -U 1.2.3.4 -T prof -w"),
        "list -i l1", "list -c local", "list -c SelfSign", "list -c LOCAL", "list -i L1",
    ],
    "default_template_and_auto_nickname": [
        "request -f {w}/d.crt -k {w}/d.key -c SelfSign -w",
        "list",
    ],
    "pin_and_commands": [
        "request -f {w}/p.crt -k {w}/p.key -P secret -c SelfSign -I p -B true -C true -w",
        "list -i p",
    ],
    "nss_database": [
        "request -d sql:{w}/nss -n srv -c SelfSign -I n1 -N CN=n1 -w",
        "list -d sql:{w}/nss -n srv", "list -d {w}/nss -n srv", "list -n srv",
        "status -d sql:{w}/nss -n srv -v", "stop-tracking -d sql:{w}/nss -n srv", "list",
    ],
    "resubmit_with_new_dns": [
        "request -f {w}/r.crt -k {w}/r.key -c SelfSign -I r -w",
        "resubmit -i r -D new.example.test -w -v", "list -i r",
        "resubmit -f {w}/r.crt -I r2 -w", "list",
    ],
    "rekey": [
        "request -f {w}/k.crt -k {w}/k.key -c SelfSign -I k -w",
        "rekey -i k -G EC -g 256 -w", "list -i k",
    ],
    "stop_and_start_tracking": [
        "request -f {w}/t.crt -k {w}/t.key -c SelfSign -I t -w",
        "stop-tracking -i t", "list",
        "start-tracking -f {w}/t.crt -k {w}/t.key -c SelfSign -I t2 -w", "list",
        "start-tracking -i t2 -R -T prof", "list -i t2",
        "start-tracking -i nosuch", "stop-tracking -f {w}/t.crt",
    ],
    "ca_management": [
        "add-ca -c testca -e '{helper} down'", "list-cas -c testca -v",
        "add-ca -c TESTCA -e /bin/true", "add-ca -c testca -e /bin/true -v",
        "request -f {w}/u.crt -k {w}/u.key -c testca -I u -T prof -X iss -w -v",
        "list -i u", "status -i u", "refresh -a",
        "modify-ca -c testca -e '{helper} reject'", "list-cas -c testca",
        "refresh-ca -c testca", "resubmit -i u -w", "status -i u -v",
        "remove-ca -c testca", "remove-ca -c testca", "list-cas", "list -i u",
    ],
    "scep_ca": [
        "add-scep-ca -c scep1 -u http://127.0.0.1:9/scep",
        "add-scep-ca -c scep2 -u 'http://127.0.0.1:9/a b' -i 'my id' -R {w}/ca.pem -n",
        "add-scep-ca -c scep3 -u http://127.0.0.1:9/scep -r {w}/bad.pem",
        "list-cas -c scep1", "list-cas -c scep2", "list-cas -c scep3",
    ],
    "ca_working": [
        "add-ca -c slowca -e '{helper} working'",
        "request -f {w}/cw.crt -k {w}/cw.key -c slowca -I cw -w", "status -i cw -v",
        "list -r", "refresh -i cw",
    ],
    "no_ca": [
        "request -f {w}/g.crt -I g", "list -i g", "status -i g -v",
    ],
    "variants": [
        "local-getcert request -f {w}/v.crt -k {w}/v.key -I v -w",
        "selfsign-getcert request -f {w}/s.crt -k {w}/s.key -I s -w",
        "local-getcert list", "selfsign-getcert list", "local-getcert list-cas",
        "ipa-getcert list-cas", "local-getcert refresh-ca", "local-getcert resubmit -i s",
        "ipa-getcert request -f {w}/i.crt -N CN=x", "local-getcert add-ca -c x -e y",
        "selfsign-getcert", "local-getcert list --bogus", "ipa-getcert request -H",
    ],
    "request_errors": [
        "request -f {w}/x.crt -c nosuch", "request -f /nonexistent/dir/x.crt",
        "request -f nosuchdir/x.crt", "request -k {w}/k.key", "request",
        "request -d {w}", "request -f {w}/x.crt -k {w}/x.crt",
        "request -d {w} -n x -f {w}/x.crt", "request -f {w} -c SelfSign",
        "request -f {w}/x.crt -G DSA", "request -f {w}/x.crt -u bogus",
        "request -f {w}/x.crt -U serverAuth", "request -f {w}/x.crt -K a@b@c",
        "request -f {w}/x.crt --ms-template-spec bad -v", "request -f {w}/x.crt -p rel.pin",
        "request -f {w}/x.crt extra words", "request -c", "request --wait-timeout=x",
        "request -f {w}/x.crt -w=1", "request -wvy",
    ],
    "duplicates": [
        "request -f {w}/a.crt -c SelfSign -I dup", "request -f {w}/b.crt -I DUP -v",
        "request -f {w}/a.crt -I other -v",
    ],
    "lookup_errors": [
        "list -i nosuch", "list -c nosuch", "list -f {w}/none.crt", "status -i nosuch",
        "status", "status -f {w}/none.crt", "stop-tracking -i nosuch", "stop-tracking",
        "resubmit -i nosuch", "resubmit", "resubmit -d {w}", "rekey -f {w}/none.crt",
        "refresh", "refresh -i nosuch", "list-cas -c nosuch", "remove-ca -c nosuch",
        "remove-ca", "add-ca -c x", "add-ca -e y", "refresh-ca",
        "add-scep-ca -c s", "add-scep-ca -c s -u https://example.test/scep",
        "add-scep-ca -c s -u http://example.test/scep -R {w}/none.pem",
    ],
    "command_line_forms": [
        "request -f{w}/f1.crt -k{w}/f1.key -cSelfSign -If1 -wv",
        "request --certfile={w}/f2.crt --keyfile {w}/f2.key --ca=SelfSign --id=f2 --wait",
        "list -tu", "list --token x", "list -- x", "bogus", "", "list -H", "resubmit -H",
    ],
}


def _write_helper(workdir: Path) -> Path:
    helper = workdir / "helper.sh"
    helper.write_text(HELPER)
    helper.chmod(0o755)
    return helper


def _run_steps(bus: PrivateBus, dirs: StateDirs, stock: bool, steps: list[str],
               workdir: Path, env: dict[str, str]) -> list[tuple[str, int, str, str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    helper = _write_helper(workdir)
    (workdir / "ca.pem").write_text(PEM)
    (workdir / "bad.pem").write_text("not PEM\n")
    (workdir / "nss").mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{workdir}/nss", "--empty-password"],
                   check=True, capture_output=True)
    out = []
    for step in steps:
        words = [w.format(w=workdir, helper=helper) for w in shlex.split(step)]
        program = "getcert"
        if words and words[0].endswith("getcert"):
            program = words.pop(0)
        client = Getcert(bus, stock=stock, dirs=dirs, program=program)
        result = client(*words, env=env)
        out.append((f"{program} {step}", result.returncode,
                    _normalize(result.stdout, workdir), _normalize(result.stderr, workdir)))
    return out


_TRANSIENT_STATE = re.compile(
    r"^State (?!MONITORING|CA_WORKING|CA_UNREACHABLE|CA_REJECTED)\w+, stuck: no\.\n",
    re.MULTILINE)


def _normalize(text: str, workdir: Path) -> str:
    text = text.replace(str(workdir), "{w}")
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+", "<time>", text)
    text = re.sub(r"\b\d{14}(-\d+)?\b", "<generated>", text)
    text = re.sub(r"next-serial-number: \w+", "next-serial-number: <serial>", text)
    return _TRANSIENT_STATE.sub("", text)


def _reset(bus: PrivateBus, dirs: StateDirs, env: dict[str, str]) -> None:
    stock = Getcert(bus, stock=True, dirs=dirs)
    listed = stock("list", env=env).stdout
    for nickname in re.findall(r"^Request ID '(.*)':$", listed, re.MULTILINE):
        stock("stop-tracking", "-i", nickname, env=env)
    listed = stock("list-cas", env=env).stdout
    for name in re.findall(r"^CA '(.*)':$", listed, re.MULTILINE):
        if name not in BUILTIN_CAS:
            stock("remove-ca", "-c", name, env=env)


def _our_daemon_importable() -> bool:
    try:
        import pycertmonger.daemon  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(params=[
    "stock",
    pytest.param("ours", marks=pytest.mark.skipif(
        not _our_daemon_importable(),
        reason="pycertmonger.daemon cannot be imported yet; this runs once it can")),
])
def certmonger(request: pytest.FixtureRequest, bus: PrivateBus,
               dirs: StateDirs) -> Iterator[Daemon]:
    """The daemon the clients talk to: the stock certmonger, or ours."""
    daemon = Daemon(bus, dirs, stock=request.param == "stock").start()
    yield daemon
    daemon.stop()


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """A fixed Kerberos realm and time zone, so both clients see the same machine."""
    conf = tmp_path / "krb5.conf"
    conf.write_text("[libdefaults]\n default_realm = EXAMPLE.TEST\n")
    return {"KRB5_CONFIG": str(conf), "TZ": "UTC"}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_our_getcert_matches_the_stock_getcert(scenario: str, certmonger: Daemon,
                                               bus: PrivateBus, dirs: StateDirs,
                                               tmp_path: Path,
                                               client_env: dict[str, str]) -> None:
    steps = SCENARIOS[scenario]
    theirs = _run_steps(bus, dirs, True, steps, tmp_path / "stock", client_env)
    _reset(bus, dirs, client_env)
    ours = _run_steps(bus, dirs, False, steps, tmp_path / "ours", client_env)
    for (step, *want), (_, *got) in zip(theirs, ours, strict=True):
        assert got == want, f"getcert outputs differ for: {step}"


def test_missing_service_is_reported_alike(bus: PrivateBus, tmp_path: Path) -> None:
    for args in (["list"], ["list", "-v"], ["request", "-f", f"{tmp_path}/x.crt", "-v"]):
        theirs = Getcert(bus, stock=True)(*args)
        ours = Getcert(bus, stock=False)(*args)
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr)
        assert theirs.stdout.startswith(
            "Please verify that the certmonger service has been started.\n")


def test_missing_bus_is_reported(bus: PrivateBus, tmp_path: Path) -> None:
    # (The stock client, run as root, would start a private daemon instead.)
    result = Getcert(bus, stock=False)(
        "list", env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/nothing"})
    assert result.returncode == 1
    assert result.stdout == ("Error connecting to D-Bus.\n"
                             "Please verify that the message bus (D-Bus) service is running.\n")


def test_modify_ca_of_an_unknown_ca_fails_cleanly(certmonger: Daemon, bus: PrivateBus) -> None:
    result = Getcert(bus, stock=False)("modify-ca", "-c", "nosuch", "-e", "/bin/true")
    assert (result.returncode, result.stdout) == (1, 'No CA with name "nosuch" found.\n')


def test_json_listing_describes_the_same_requests(certmonger: Daemon, bus: PrivateBus,
                                                  dirs: StateDirs, tmp_path: Path) -> None:
    ours = Getcert(bus, stock=False, dirs=dirs)
    ours("request", "-f", f"{tmp_path}/j.crt", "-k", f"{tmp_path}/j.key", "-c", "SelfSign",
         "-I", "j", "-N", "CN=j.example.test", "-w")
    data = json.loads(ours("list", "--json").stdout)
    assert [(d["nickname"], d["status"], d["ca"], d["subject"], d["cert-file"])
            for d in data] == [("j", "MONITORING", "SelfSign", "CN=j.example.test",
                                f"{tmp_path}/j.crt")]
    cas = json.loads(ours("list-cas", "--json", "-c", "local").stdout)
    assert [(c["nickname"], c["type"]) for c in cas] == [("local", "EXTERNAL")]
