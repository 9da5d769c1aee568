"""FreeIPA's certmonger client module, driven through its public functions.

Run by the system Python (the one Debian's python3-ipalib is built for), never imported
by the test suite: `python3 ipalib_flows.py WORKDIR` with DBUS_SYSTEM_BUS_ADDRESS
naming the bus of the daemon under test. Each flow calls `ipalib.install.certmonger`
the way FreeIPA's installers and upgrade code do, and records what it saw; the flows
are independent (each uses its own files), so one failing flow does not hide the
others. The result, one JSON object keyed by flow name, goes to stdout; a flow that
raised records the exception instead of its observations.

dbus-python caches the system bus connection per process, so this must run in a
process of its own, with the bus address set before the first call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import dbus
from ipalib import api
from ipalib.install import certmonger as cm

# What FreeIPA reads back from a request, as `ipa-server-upgrade` and the installers do.
REQUEST_VALUES = (
    "nickname", "status", "ca-error", "cert-file", "key-file", "cert-storage",
    "key-storage", "subject", "issuer", "key-size", "key-type", "template-subject",
    "template-hostname", "template-principal", "autorenew", "monitoring", "stuck",
)
NSSDB_VALUES = ("cert-database", "cert-nickname", "cert-token", "key-database",
                "key-nickname", "key-token")

FLOWS: dict[str, Callable[[str], dict[str, Any]]] = {}


def flow(func: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """Registers a flow under its function name."""
    FLOWS[func.__name__] = func
    return func


def plain(value: Any) -> Any:
    """A dbus-python value as plain JSON data (None stays None: an empty reply)."""
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.Int16, dbus.Int32, dbus.Int64, dbus.UInt16, dbus.UInt32,
                          dbus.UInt64, dbus.Byte)):
        return int(value)
    if isinstance(value, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(value)
    if isinstance(value, (list, tuple, dbus.Array, dbus.Struct)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def values(request_id: str, names: tuple[str, ...] = REQUEST_VALUES) -> dict[str, Any]:
    """`get_request_value` for each of `names`."""
    return {name: plain(cm.get_request_value(request_id, name)) for name in names}


def failure(exc: BaseException) -> dict[str, Any]:
    """What a raised exception looked like to the caller."""
    seen: dict[str, Any] = {"raised": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, dbus.DBusException):
        seen["dbus_name"] = exc.get_dbus_name()
        seen["message"] = exc.get_dbus_message()
    return seen


def pair(workdir: str, name: str) -> tuple[str, str]:
    """A certificate and key file location for `name`."""
    return os.path.join(workdir, f"{name}.crt"), os.path.join(workdir, f"{name}.key")


def read(path: str) -> str:
    """A text file's contents."""
    with open(path, encoding="ascii") as f:
        return f.read()


def new_nssdb(workdir: str, name: str) -> str:
    """An empty NSS database (no password) in a new directory."""
    path = os.path.join(workdir, name)
    os.makedirs(path)
    subprocess.run(["certutil", "-N", "-d", f"sql:{path}", "--empty-password"],
                   check=True, capture_output=True)
    return path


def manager() -> Any:
    """The certmonger manager object's interface, as ipalib builds it."""
    return cm._certmonger().obj_if


def add_helper_ca(workdir: str, name: str, exit_code: int, message: str) -> str:
    """A CA whose helper answers every SUBMIT with `message` and `exit_code`."""
    script = os.path.join(workdir, f"{name}.sh")
    with open(script, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\n"
                'case "$CERTMONGER_OPERATION" in\n'
                f'  SUBMIT|POLL) echo "{message}"; exit {exit_code};;\n'
                "  *) exit 6;;\nesac\n")
    os.chmod(script, 0o755)
    ok, _path = manager().add_known_ca(name, script, dbus.Array([], signature="s"))
    assert ok, name
    return script


@flow
def selfsign_file(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "ss")
    rid = cm.request_and_wait_for_cert(
        (crt, key), "CN=ss.example.test,O=Test", None, dns=["ss.example.test"],
        ca="SelfSign", storage="FILE", resubmit_timeout=0)
    seen = values(rid)
    seen["ca-name"] = cm.get_request_value(rid, "ca-name")
    seen["cert-pem"] = read(crt).startswith("-----BEGIN CERTIFICATE-----")
    seen["key-mode"] = oct(os.stat(key).st_mode & 0o777)
    return seen


@flow
def local_file(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "loc")
    rid = cm.request_and_wait_for_cert(
        (crt, key), "CN=loc.example.test", "host/loc.example.test@EXAMPLE.TEST",
        dns=["loc.example.test", "alt.example.test"], ca="local", storage="FILE",
        perms=(0o640, 0o600), resubmit_timeout=0)
    seen = values(rid)
    seen["ca-name"] = cm.get_request_value(rid, "ca-name")
    seen["cert-mode"] = oct(os.stat(crt).st_mode & 0o777)
    seen["key-mode"] = oct(os.stat(key).st_mode & 0o777)
    return seen


@flow
def local_nssdb(workdir: str) -> dict[str, Any]:
    db = new_nssdb(workdir, "nssdb")
    rid = cm.request_and_wait_for_cert(
        db, "CN=nss.example.test,O=Test", None, nickname="Server-Cert",
        dns=["nss.example.test"], ca="local", storage="NSSDB", resubmit_timeout=0)
    seen = values(rid, REQUEST_VALUES + NSSDB_VALUES)
    seen["ca-name"] = cm.get_request_value(rid, "ca-name")
    seen["requests-for-dir"] = plain(cm.get_requests_for_dir(db))
    seen["check-state"] = plain(cm.check_state([db]))
    listed = subprocess.run(["certutil", "-L", "-d", f"sql:{db}"], check=True,
                            capture_output=True, text=True).stdout
    seen["in-database"] = "Server-Cert" in listed
    cm.stop_tracking(secdir=db, nickname="Server-Cert")
    seen["after-stop"] = plain(cm.check_state([db]))
    return seen


@flow
def request_id_lookups(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "look")
    rid = cm.request_and_wait_for_cert(
        (crt, key), "CN=look.example.test", None,
        dns=["look.example.test", "look2.example.test"], ca="SelfSign", storage="FILE",
        resubmit_timeout=0)
    return {
        "request-id": rid,
        "by-cert-file": plain(cm.get_request_id({"cert-file": crt})),
        "by-ca-and-hostname": plain(cm.get_request_id(
            {"ca-name": "SelfSign", "template-hostname": ["look2.example.test"]})),
        "by-wrong-ca": plain(cm.get_request_id(
            {"ca-name": "local", "template-hostname": ["look2.example.test"]})),
        "by-missing-file": plain(cm.get_request_id({"cert-file": crt + ".nope"})),
        "value-of-unknown-request": plain(cm.get_request_value("no-such-request", "status")),
    }


@flow
def unknown_property(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "unk")
    rid = cm.request_and_wait_for_cert((crt, key), "CN=unk.example.test", None,
                                       ca="SelfSign", storage="FILE", resubmit_timeout=0)
    try:
        cm.get_request_value(rid, "no-such-property")
    except dbus.DBusException as exc:
        return failure(exc)
    return {"raised": None}


@flow
def request_values_added(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "add")
    rid = cm.request_and_wait_for_cert((crt, key), "CN=add.example.test", None,
                                       ca="SelfSign", storage="FILE", resubmit_timeout=0)
    cm.add_subject(rid, "CN=added.example.test,O=Test")
    cm.add_principal(rid, "HTTP/add.example.test@EXAMPLE.TEST")
    cm.add_request_value(rid, "template-email", ["root@add.example.test"])
    cm.add_request_value(rid, "cert-postsave-command", "/bin/true post")
    cm.add_request_value(rid, "template-hostname", ["add.example.test"])
    return values(rid, ("template-subject", "template-principal", "template-email",
                        "cert-postsave-command", "template-hostname", "status"))


@flow
def modify_then_resubmit(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "mod")
    rid = cm.request_and_wait_for_cert((crt, key), "CN=mod.example.test", None,
                                       ca="SelfSign", storage="FILE", resubmit_timeout=0)
    first = read(crt)
    cm.modify(rid, ca="local", profile="caIPAserviceCert", template_v2="1.2.3.4:10:2")
    seen = values(rid, ("template-profile", "template-ms-certificate-template"))
    seen["ca-name-after-modify"] = cm.get_request_value(rid, "ca-name")
    cm.resubmit_request(rid, profile="caIPAserviceCert", is_ca=True)
    seen["state"] = cm.wait_for_request(rid, timeout=30)
    # The new certificate is saved around the time the state becomes MONITORING.
    deadline = time.monotonic() + 10
    while read(crt) == first and time.monotonic() < deadline:
        time.sleep(0.05)
    seen["reissued"] = read(crt) != first
    seen.update(values(rid, ("issuer", "ca-error", "template-is-ca",
                             "template-ca-path-length", "key-size", "key-type")))
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", crt], check=True,
                          capture_output=True, text=True).stdout
    seen["basic-constraints-ca"] = "CA:TRUE" in text
    return seen


@flow
def track_and_stop(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "trk")
    rid = cm.request_and_wait_for_cert((crt, key), "CN=trk.example.test", None,
                                       ca="SelfSign", storage="FILE", resubmit_timeout=0)
    cm.stop_tracking(request_id=rid)
    seen: dict[str, Any] = {"after-stop-by-id": plain(cm.get_request_id({"cert-file": crt}))}
    tid = cm.start_tracking((crt, key), ca="SelfSign", storage="FILE",
                            dns=["trk.example.test"])
    seen["tracking-state"] = cm.wait_for_request(tid, timeout=30)
    seen.update(values(tid, ("status", "ca-error", "subject", "template-hostname",
                             "cert-file", "key-file")))
    seen["found-by-file"] = plain(cm.get_request_id({"cert-file": crt})) == tid
    cm.stop_tracking(certfile=crt)
    seen["after-stop-by-file"] = plain(cm.get_request_id({"cert-file": crt}))
    seen["files-kept"] = os.path.exists(crt) and os.path.exists(key)
    return seen


@flow
def track_nssdb(workdir: str) -> dict[str, Any]:
    db = new_nssdb(workdir, "trackdb")
    noise = os.path.join(workdir, "noise")
    with open(noise, "wb") as f:
        f.write(os.urandom(2048))  # certutil reads the whole noise file: not /dev/urandom
    subprocess.run(["certutil", "-S", "-d", f"sql:{db}", "-n", "Tracked", "-s",
                    "CN=tracked.example.test", "-x", "-t", "u,u,u", "-z", noise,
                    "-k", "rsa", "-g", "2048"], check=True, capture_output=True,
                   stdin=subprocess.DEVNULL)
    tid = cm.start_tracking(db, ca="SelfSign", nickname="Tracked", storage="NSSDB")
    seen: dict[str, Any] = {"state": cm.wait_for_request(tid, timeout=30)}
    seen.update(values(tid, ("status", "ca-error", "subject") + NSSDB_VALUES))
    seen["requests-for-dir"] = plain(cm.get_requests_for_dir(db)) == [tid]
    cm.stop_tracking(secdir=db, nickname="Tracked")
    seen["after-stop"] = plain(cm.get_requests_for_dir(db))
    return seen


@flow
def rejected_request(workdir: str) -> dict[str, Any]:
    add_helper_ca(workdir, "Refuser", 2, "Refused for testing")
    crt, key = pair(workdir, "rej")
    rid = cm.request_cert((crt, key), "CN=rej.example.test", None, ca="Refuser",
                          storage="FILE")
    seen = {"state": cm.wait_for_request(rid, timeout=30)}
    seen.update(values(rid, ("status", "ca-error", "stuck")))
    crt2, key2 = pair(workdir, "rej2")
    try:
        cm.request_and_wait_for_cert((crt2, key2), "CN=rej2.example.test", None,
                                     ca="Refuser", storage="FILE", resubmit_timeout=0,
                                     stop_tracking_on_error=True)
    except RuntimeError as exc:
        seen["wait-for-cert"] = failure(exc)
    seen["stopped-on-error"] = plain(cm.get_request_id({"cert-file": crt2}))
    return seen


@flow
def unreachable_request(workdir: str) -> dict[str, Any]:
    add_helper_ca(workdir, "Offline", 3, "Offline for testing")
    crt, key = pair(workdir, "down")
    rid = cm.request_cert((crt, key), "CN=down.example.test", None, ca="Offline",
                          storage="FILE")
    seen = {"state": cm.wait_for_request(rid, timeout=30)}
    seen.update(values(rid, ("status", "ca-error", "stuck")))
    return seen


@flow
def unknown_ca(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "noca")
    try:
        cm.request_cert((crt, key), "CN=noca.example.test", None, ca="NoSuchCA",
                        storage="FILE")
    except RuntimeError as exc:
        return failure(exc)
    return {"raised": None}


@flow
def duplicate_location(workdir: str) -> dict[str, Any]:
    crt, key = pair(workdir, "dup")
    cm.request_and_wait_for_cert((crt, key), "CN=dup.example.test", None,
                                 ca="SelfSign", storage="FILE", resubmit_timeout=0)
    try:
        cm.request_cert((crt, key + ".2"), "CN=dup2.example.test", None, ca="SelfSign",
                        storage="FILE")
    except dbus.DBusException as exc:
        return failure(exc)
    return {"raised": None}


@flow
def ca_helper_property(workdir: str) -> dict[str, Any]:
    script = add_helper_ca(workdir, "Helped", 3, "unused")
    replacement = os.path.join(workdir, "other-helper.sh")
    with open(replacement, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\nexit 6\n")
    os.chmod(replacement, 0o755)
    old = cm.modify_ca_helper("Helped", replacement + " -x")
    seen = {"returned-old": plain(old) == script}
    seen["now"] = plain(cm.modify_ca_helper("Helped", script)) == replacement + " -x"
    try:
        cm.modify_ca_helper("NoSuchCA", script)
    except RuntimeError as exc:
        seen["unknown-ca"] = failure(exc)
    # ipa-client-install's principal juggling on the IPA CA's ipa-submit command line.
    ipa = cm._find_IPA_ca()
    before = plain(ipa.prop_if.Get(cm.DBUS_CM_CA_IF, "external-helper"))
    cm.add_principal_to_cas("host/ipa.example.test@EXAMPLE.TEST")
    added = plain(ipa.prop_if.Get(cm.DBUS_CM_CA_IF, "external-helper"))
    seen["principal-added"] = added == f"{before} -k host/ipa.example.test@EXAMPLE.TEST"
    cm.remove_principal_from_cas()
    seen["principal-removed"] = plain(
        ipa.prop_if.Get(cm.DBUS_CM_CA_IF, "external-helper")) == before
    return seen


def main(workdir: str, names: list[str]) -> None:
    """Runs the named flows (all when none are named) and prints what each saw."""
    confdir = os.path.join(workdir, "ipa-conf")
    os.makedirs(confdir, exist_ok=True)
    # request_and_wait_for_cert reads api.env.certmonger_wait_timeout; an empty
    # configuration directory is enough for its default (300 s).
    api.bootstrap(context="cli", confdir=confdir, in_server=False, log=None)
    results: dict[str, Any] = {}
    for name in names or list(FLOWS):
        flow_dir = os.path.join(workdir, name)
        os.makedirs(flow_dir)
        started = time.monotonic()
        try:
            results[name] = FLOWS[name](flow_dir)
        except Exception as exc:  # noqa: BLE001 - recorded, so the other flows still run
            results[name] = {"flow-failed": failure(exc),
                             "traceback": traceback.format_exc()}
        print(f"{name}: {time.monotonic() - started:.2f} s", file=sys.stderr, flush=True)
    json.dump(results, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
