"""FreeIPA's client library (`ipalib.install.certmonger`) against our daemon and the stock one.

FreeIPA's installers, upgrade code and `ipa-getcert` users drive certmonger through this
module, over dbus-python. The flows in `ipalib_flows.py` call it the way FreeIPA does;
they run under the system Python (Debian's python3-ipalib is built for it), each daemon
on its own private bus, both daemons at once. Every test below is run against both
daemons and states what FreeIPA must see; the last test compares everything the flows
saw from the two daemons, so any difference shows.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.bus import Daemon, PrivateBus, StateDirs, have_stock
from tests.support.normalize import Normalizer

pytestmark = [pytest.mark.slow]

SYSTEM_PYTHON = "/usr/bin/python3"
FLOWS = Path(__file__).with_name("ipalib_flows.py")
# Every flow together takes 20-40 s; a hung call must not hang the suite.
FLOWS_TIMEOUT = 240


def have_ipalib() -> bool:
    """Whether the system Python can import FreeIPA's certmonger module."""
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", "import ipalib.install.certmonger"],
                               capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@dataclass
class Seen:
    """What the flows saw from one daemon."""

    kind: str
    workdir: str
    flows: dict[str, Any]
    daemon_log: str

    def flow(self, name: str) -> dict[str, Any]:
        """One flow's observations; the test fails with the traceback if the flow raised."""
        seen = self.flows[name]
        if "flow-failed" in seen:
            pytest.fail(f"{name} raised against {self.kind}:\n{seen['traceback']}")
        return seen

    def path(self, flow: str, name: str) -> str:
        """Where `flow` kept its file or directory `name`."""
        return f"{self.workdir}/{flow}/{name}"


@dataclass
class _Run:
    kind: str
    bus: PrivateBus
    daemon: Daemon
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None


@pytest.fixture(scope="module")
def observations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Seen]]:
    """Runs every flow against our daemon and (when installed) the stock one, in parallel."""
    if not have_ipalib():
        pytest.skip("the system Python cannot import ipalib (Debian's python3-ipalib)")
    runs: list[_Run] = []
    try:
        for kind in ["ours", "stock"] if have_stock() else ["ours"]:
            root = tmp_path_factory.mktemp(kind)
            bus = PrivateBus(root / "bus").start()
            run = _Run(kind, bus, Daemon(bus, StateDirs(root / "state"), stock=kind == "stock"),
                       root / "work")
            runs.append(run)
            run.daemon.start()
            run.workdir.mkdir()
            # dbus-python connects to DBUS_SYSTEM_BUS_ADDRESS; ipalib must find the
            # daemon already owning its name, or it would try to start the real one.
            # Files, not pipes: the two runs are read one after the other.
            with open(root / "flows.json", "wb") as out, open(root / "flows.err", "wb") as err:
                run.proc = subprocess.Popen([SYSTEM_PYTHON, str(FLOWS), str(run.workdir)],
                                            env=bus.env(), stdout=out, stderr=err)
        seen: dict[str, Seen] = {}
        for run in runs:
            assert run.proc is not None
            root = run.workdir.parent
            run.proc.wait(timeout=FLOWS_TIMEOUT)
            assert run.proc.returncode == 0, \
                f"flows against {run.kind} failed:\n{(root / 'flows.err').read_text()}"
            flows = json.loads((root / "flows.json").read_text())
            seen[run.kind] = Seen(run.kind, str(run.workdir), flows, "")
        for run in runs:
            run.daemon.stop()
            seen[run.kind].daemon_log = run.daemon.log.read_text(errors="replace")
        yield seen
    finally:
        for run in runs:
            if run.proc is not None and run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()
            run.daemon.stop()
            run.bus.stop()


@pytest.fixture(params=["stock", "ours"])
def seen(request: pytest.FixtureRequest, observations: dict[str, Seen]) -> Seen:
    """The observations from each daemon in turn."""
    if request.param not in observations:
        pytest.skip("Debian's certmonger is not installed")
    return observations[request.param]


# --- request_and_wait_for_cert -------------------------------------------------------------

def test_a_selfsigned_file_request_ends_monitoring_without_a_ca_error(seen: Seen) -> None:
    flow = seen.flow("selfsign_file")
    assert (flow["status"], flow["ca-error"], flow["stuck"]) == ("MONITORING", None, False)
    assert flow["cert-pem"] is True


def test_a_file_request_reads_back_its_storage_and_key(seen: Seen) -> None:
    flow = seen.flow("selfsign_file")
    assert flow["cert-storage"] == flow["key-storage"] == "FILE"
    assert flow["cert-file"] == seen.path("selfsign_file", "ss.crt")
    assert flow["key-file"] == seen.path("selfsign_file", "ss.key")
    assert (flow["key-type"], flow["key-size"]) == ("RSA", 2048)
    assert flow["key-mode"] == "0o600"


def test_a_file_request_shows_the_subject_ipalib_reversed_in_ldap_order(seen: Seen) -> None:
    # request_cert writes FILE subjects backwards (certmonger's FILE parser keeps the
    # order written, NSS's reverses it), so the certificate reads in LDAP order.
    flow = seen.flow("selfsign_file")
    assert flow["template-subject"] == "O=Test,CN=ss.example.test"
    assert flow["subject"] == flow["issuer"] == "CN=ss.example.test,O=Test"


def test_the_ca_name_is_the_nickname_of_the_requests_ca(seen: Seen) -> None:
    assert seen.flow("selfsign_file")["ca-name"] == "SelfSign"
    assert seen.flow("local_file")["ca-name"] == "local"


def test_an_unset_principal_list_reads_as_an_empty_list(seen: Seen) -> None:
    assert seen.flow("selfsign_file")["template-principal"] == []


def test_a_local_ca_request_carries_principal_hostnames_and_permissions(seen: Seen) -> None:
    flow = seen.flow("local_file")
    assert (flow["status"], flow["ca-error"]) == ("MONITORING", None)
    assert flow["template-principal"] == ["host/loc.example.test@EXAMPLE.TEST"]
    assert flow["template-hostname"] == ["loc.example.test", "alt.example.test"]
    assert flow["issuer"].endswith(",CN=Local Signing Authority")
    assert (flow["cert-mode"], flow["key-mode"]) == ("0o640", "0o600")


def test_an_nssdb_request_keeps_the_subject_in_ldap_order(seen: Seen) -> None:
    flow = seen.flow("local_nssdb")
    assert (flow["status"], flow["ca-error"]) == ("MONITORING", None)
    assert flow["template-subject"] == flow["subject"] == "CN=nss.example.test,O=Test"
    assert flow["in-database"] is True


def test_an_nssdb_request_names_its_database_nickname_and_token(seen: Seen) -> None:
    flow = seen.flow("local_nssdb")
    db = seen.path("local_nssdb", "nssdb")
    assert flow["cert-storage"] == flow["key-storage"] == "NSSDB"
    assert flow["cert-database"] == flow["key-database"] == db
    assert flow["cert-nickname"] == flow["key-nickname"] == "Server-Cert"
    assert flow["cert-token"] == flow["key-token"] == "NSS Certificate DB"
    assert flow["cert-file"] == flow["key-file"] == ""


def test_requests_are_found_by_their_nss_database(seen: Seen) -> None:
    flow = seen.flow("local_nssdb")
    assert flow["requests-for-dir"] == flow["check-state"] == [flow["nickname"]]
    assert flow["after-stop"] == []


# --- get_request_id and get_request_value ---------------------------------------------------

def test_get_request_id_finds_a_request_by_its_certificate_file(seen: Seen) -> None:
    flow = seen.flow("request_id_lookups")
    assert flow["by-cert-file"] == flow["request-id"]


def test_get_request_id_matches_the_ca_name_and_a_subset_of_hostnames(seen: Seen) -> None:
    flow = seen.flow("request_id_lookups")
    assert flow["by-ca-and-hostname"] == flow["request-id"]
    assert flow["by-wrong-ca"] is None


def test_get_request_id_is_none_without_a_match(seen: Seen) -> None:
    assert seen.flow("request_id_lookups")["by-missing-file"] is None


def test_get_request_value_of_an_unknown_request_is_none(seen: Seen) -> None:
    assert seen.flow("request_id_lookups")["value-of-unknown-request"] is None


def test_get_request_value_of_an_unknown_property_raises_bad_arg(seen: Seen) -> None:
    assert seen.flow("unknown_property") == {
        "raised": "DBusException",
        "dbus_name": "org.fedorahosted.certmonger.request.bad_arg",
        "message": "Unrecognized property name.",
    }


# --- add_request_value, add_subject, modify, resubmit_request -------------------------------

def test_added_request_values_are_read_back(seen: Seen) -> None:
    assert seen.flow("request_values_added") == {
        "template-subject": "CN=added.example.test,O=Test",
        "template-principal": ["HTTP/add.example.test@EXAMPLE.TEST"],
        "template-email": ["root@add.example.test"],
        "cert-postsave-command": "/bin/true post",
        "template-hostname": ["add.example.test"],
        "status": "MONITORING",
    }


def test_modify_sets_the_profile_the_v2_template_and_the_ca(seen: Seen) -> None:
    flow = seen.flow("modify_then_resubmit")
    assert flow["template-profile"] == "caIPAserviceCert"
    assert flow["template-ms-certificate-template"] == "1.2.3.4:10:2"
    assert flow["ca-name-after-modify"] == "local"


def test_resubmit_as_a_ca_reissues_a_ca_certificate_from_the_new_ca(seen: Seen) -> None:
    flow = seen.flow("modify_then_resubmit")
    assert (flow["state"], flow["ca-error"], flow["reissued"]) == ("MONITORING", None, True)
    assert (flow["template-is-ca"], flow["template-ca-path-length"]) == (True, -1)
    assert flow["basic-constraints-ca"] is True
    assert flow["issuer"].endswith(",CN=Local Signing Authority")


def test_resubmit_keeps_the_key_type_and_size(seen: Seen) -> None:
    flow = seen.flow("modify_then_resubmit")
    assert (flow["key-type"], flow["key-size"]) == ("RSA", 2048)


# --- start_tracking and stop_tracking -------------------------------------------------------

def test_stop_tracking_by_request_id_forgets_the_request(seen: Seen) -> None:
    assert seen.flow("track_and_stop")["after-stop-by-id"] is None


def test_start_tracking_an_existing_file_pair_reaches_monitoring(seen: Seen) -> None:
    flow = seen.flow("track_and_stop")
    assert (flow["tracking-state"], flow["status"], flow["ca-error"]) == (
        "MONITORING", "MONITORING", None)
    assert flow["subject"] == "CN=trk.example.test"
    assert flow["template-hostname"] == ["trk.example.test"]
    assert flow["found-by-file"] is True


def test_stop_tracking_by_certificate_file_leaves_the_files(seen: Seen) -> None:
    flow = seen.flow("track_and_stop")
    assert flow["after-stop-by-file"] is None
    assert flow["files-kept"] is True


def test_start_tracking_a_certificate_in_an_nss_database(seen: Seen) -> None:
    flow = seen.flow("track_nssdb")
    assert (flow["state"], flow["ca-error"]) == ("MONITORING", None)
    assert flow["subject"] == "CN=tracked.example.test"
    assert flow["cert-nickname"] == flow["key-nickname"] == "Tracked"
    assert flow["requests-for-dir"] is True
    assert flow["after-stop"] == []


# --- requests that do not succeed -----------------------------------------------------------

def test_a_rejected_request_rests_in_ca_rejected_with_the_helpers_message(seen: Seen) -> None:
    flow = seen.flow("rejected_request")
    assert (flow["state"], flow["status"], flow["stuck"]) == ("CA_REJECTED", "CA_REJECTED", True)
    assert flow["ca-error"] == "Refused for testing"


def test_request_and_wait_for_cert_gives_up_on_rejection_and_stops_tracking(seen: Seen) -> None:
    flow = seen.flow("rejected_request")
    assert flow["wait-for-cert"] == {
        "raised": "RuntimeError",
        "message": "Certificate issuance failed (CA_REJECTED: Refused for testing)",
    }
    assert flow["stopped-on-error"] is None


def test_an_unreachable_ca_leaves_the_request_in_ca_unreachable(seen: Seen) -> None:
    assert seen.flow("unreachable_request") == {
        "state": "CA_UNREACHABLE", "status": "CA_UNREACHABLE", "stuck": False,
        "ca-error": "Offline for testing",
    }


def test_request_cert_for_an_unknown_ca_raises(seen: Seen) -> None:
    assert seen.flow("unknown_ca") == {"raised": "RuntimeError",
                                       "message": "NoSuchCA CA not found"}


def test_a_certificate_location_in_use_raises_duplicate(seen: Seen) -> None:
    flow = seen.flow("duplicate_location")
    assert flow["dbus_name"] == "org.fedorahosted.certmonger.duplicate"
    assert re.fullmatch(r'Certificate at same location is already used by request with '
                        r'nickname "[^"]+"\.', flow["message"])


# --- CA helpers -----------------------------------------------------------------------------

def test_modify_ca_helper_sets_the_helper_and_returns_the_previous_one(seen: Seen) -> None:
    flow = seen.flow("ca_helper_property")
    assert flow["returned-old"] is True
    assert flow["now"] is True


def test_modify_ca_helper_of_an_unknown_ca_raises(seen: Seen) -> None:
    assert seen.flow("ca_helper_property")["unknown-ca"] == {
        "raised": "RuntimeError", "message": "NoSuchCA is not configured"}


def test_a_principal_is_added_to_and_removed_from_the_ipa_helper(seen: Seen) -> None:
    flow = seen.flow("ca_helper_property")
    assert flow["principal-added"] is True
    assert flow["principal-removed"] is True


# --- both daemons ---------------------------------------------------------------------------

def test_our_daemon_logs_no_traceback(observations: dict[str, Seen]) -> None:
    assert "Traceback" not in observations["ours"].daemon_log


def _normalized(seen: Seen) -> dict[str, Any]:
    normalizer = Normalizer({seen.workdir: "<work>"})
    flows = {name: {k: v for k, v in flow.items() if k != "traceback"}
             for name, flow in seen.flows.items()}
    text = json.dumps(normalizer.value(flows), sort_keys=True)
    # Two requests made in the same second get "-N" suffixes; when that happens is timing.
    return json.loads(re.sub(r"<stamp>-\d+", "<stamp>", text))


def test_ipalib_sees_the_same_from_our_daemon_as_from_stock(
        observations: dict[str, Seen]) -> None:
    if "stock" not in observations:
        pytest.skip("Debian's certmonger is not installed")
    stock, ours = _normalized(observations["stock"]), _normalized(observations["ours"])
    differences = [
        f"{flow}.{key}: stock {stock[flow].get(key)!r}, ours {ours.get(flow, {}).get(key)!r}"
        for flow in stock
        for key in sorted(set(stock[flow]) | set(ours.get(flow, {})))
        if stock[flow].get(key) != ours.get(flow, {}).get(key)
    ]
    assert not differences, "\n".join(differences)
    assert set(ours) == set(stock)
