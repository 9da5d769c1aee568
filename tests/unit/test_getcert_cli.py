"""getcert's subcommands, run end to end against an in-memory stand-in for the daemon."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pytest

from pycertmonger.getcert import bus as busmod
from pycertmonger.getcert import cli, commands
from pycertmonger.getcert.bus import BusCallError, BusUnavailable, CertInfo, StorageInfo
from pycertmonger.getcert.console import Console

CAS = "/org/fedorahosted/certmonger/cas/CA"
REQS = "/org/fedorahosted/certmonger/requests/Request"


@dataclass
class FakeRequest:
    nickname: str
    state: str = "MONITORING"
    stuck: bool = False
    ca: str | None = None
    cert: StorageInfo = field(default_factory=lambda: StorageInfo("FILE", "/w/a.crt"))
    states: list[tuple[str, bool]] = field(default_factory=list)


class FakeBus:
    """Just enough of CertmongerBus for the subcommands, with a call log."""

    def __init__(self) -> None:
        self.cas = {f"{CAS}1": "SelfSign", f"{CAS}4": "local"}
        self.requests: dict[str, FakeRequest] = {}
        self.calls: list[tuple] = []
        self.fail_with: BusCallError | None = None
        self.dir = None  # a scratch directory for certificate paths

    def add(self, req: FakeRequest) -> str:
        path = f"{REQS}{len(self.requests) + 1}"
        self.requests[path] = req
        return path

    def _log(self, *call) -> None:
        self.calls.append(call)
        if self.fail_with is not None:
            raise self.fail_with

    def disconnect(self) -> None:
        pass

    async def get_known_cas(self):
        self._log("get_known_cas")
        return list(self.cas)

    async def get_requests(self):
        self._log("get_requests")
        return list(self.requests)

    async def ca_nickname(self, path):
        return self.cas.get(path)

    async def ca_type(self, path):
        return "INTERNAL:SELF" if self.cas[path] == "SelfSign" else "EXTERNAL"

    async def ca_is_default(self, path):
        return False

    async def ca_location(self, path):
        return f"/usr/lib/certmonger/{self.cas[path]}-submit"

    async def ca_serial(self, path):
        return "01"

    async def ca_issuer_names(self, path):
        return []

    async def ca_config_file_path(self, path):
        return f"/var/lib/certmonger/cas/{self.cas[path]}"

    async def request_nickname(self, path):
        return self.requests[path].nickname

    async def request_status(self, path):
        self._log("get_status", path)
        req = self.requests[path]
        if req.states:
            req.state, req.stuck = req.states.pop(0)
        return req.state, req.stuck

    async def request_ca(self, path):
        return self.requests[path].ca

    async def request_ca_error(self, path):
        return None

    async def key_storage(self, path):
        return StorageInfo("NONE")

    async def cert_storage(self, path):
        return self.requests[path].cert

    async def key_pin(self, path):
        return ""

    async def key_pin_file(self, path):
        return ""

    async def cert_info(self, path):
        return CertInfo()

    async def monitoring(self, path):
        return True

    async def autorenew(self, path):
        return True

    async def get_string_property(self, path, interface, name):
        return ""

    async def get_strings_property(self, path, interface, name):
        return []

    async def add_request(self, entries):
        self._log("add_request", [(k, v.value) for k, v in entries])
        nickname = dict(entries).get("NICKNAME")
        path = self.add(FakeRequest(nickname.value if nickname else "20260101000000",
                                    state="NEWLY_ADDED"))
        return True, path

    async def modify(self, path, entries):
        self._log("modify", path, [(k, v.value) for k, v in entries])
        return True, path

    async def resubmit(self, path):
        self._log("resubmit", path)
        return True

    async def rekey(self, path):
        self._log("rekey", path)
        return True

    async def refresh(self, path):
        self._log("refresh", path)
        return True

    async def remove_request(self, path):
        self._log("remove_request", path)
        del self.requests[path]
        return True

    async def set_ca_property(self, path, name, value):
        self._log("Set", path, name, value)

    async def remove_known_ca(self, path):
        self._log("remove_known_ca", path)
        del self.cas[path]
        return True

    async def ca_refresh(self, path):
        self._log("ca_refresh", path)
        return True


@pytest.fixture
def fake(monkeypatch, tmp_path) -> FakeBus:
    fake_bus = FakeBus()
    fake_bus.dir = tmp_path

    async def connect(cls, session=False):
        return fake_bus

    monkeypatch.setattr(busmod.CertmongerBus, "connect", classmethod(connect))
    monkeypatch.setattr(commands, "POLL_INTERVAL", 0)
    monkeypatch.setenv("KRB5_CONFIG", "/nonexistent/krb5.conf")
    return fake_bus


def run(*argv: str, prog: str = "getcert") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), prog=prog, console=Console(out, err))
    return code, out.getvalue(), err.getvalue()


def test_no_subcommand_prints_the_summary_and_fails():
    code, out, err = run()
    assert code == 1
    assert out.startswith("getcert - client certificate enrollment tool\n")
    assert err == ""


def test_unknown_subcommand_is_reported_on_stderr():
    assert run("bogus") == (1, "", "bogus: unrecognized command\n")


def test_variants_do_not_offer_ca_management():
    assert run("add-ca", prog="local-getcert") == (1, "", "add-ca: unrecognized command\n")


def test_help_prints_the_summary_and_succeeds():
    code, out, _ = run("--help")
    assert code == 0
    assert "Usage: getcert command [options]" in out


def test_subcommand_help_prints_its_usage_and_succeeds():
    code, out, _ = run("list", "-h")
    assert code == 0
    assert out.startswith("getcert - client certificate enrollment tool\n\n"
                          "Usage: getcert list [options]\n")


def test_popt_help_prints_the_option_table_and_fails():
    code, out, _ = run("status", "-H")
    assert code == 1
    assert out.startswith("Usage: getcert status [OPTION...]\n")


def test_bad_option_prints_popt_error_then_usage():
    code, out, _ = run("list", "--bogus")
    assert code == 1
    assert out.startswith("unrecognized option --bogus\n"
                          "getcert - client certificate enrollment tool\n\n"
                          "Usage: getcert list [options]\n")


def test_bus_may_be_chosen_before_the_subcommand(fake):
    assert run("-s", "list")[0] == 0


def test_list_header_counts_all_requests_whatever_the_filter(fake):
    fake.add(FakeRequest("a"))
    fake.add(FakeRequest("b", state="CA_UNREACHABLE"))
    code, out, _ = run("list", "-t")
    assert code == 0
    assert out.startswith("Number of certificates and requests being tracked: 2.\n"
                          "Request ID 'a':\n")
    assert "'b'" not in out


def test_list_id_is_found_ignoring_case_but_filtered_exactly(fake):
    fake.add(FakeRequest("pin1"))
    code, out, _ = run("list", "-i", "PIN1")
    assert (code, out) == (0, "Number of certificates and requests being tracked: 1.\n")


def test_list_of_an_unknown_id_fails(fake):
    assert run("list", "-i", "x")[:2] == (1, "No request found with specified nickname.\n")


def test_list_of_an_unknown_ca_fails(fake):
    assert run("list", "-c", "nosuch")[:2] == (1, 'No CA with name "nosuch" found.\n')


def test_list_reports_states_it_does_not_know(fake):
    fake.add(FakeRequest("a", state="BOGUS_STATE"))
    out = run("list")[1]
    assert out.endswith("'BOGUS_STATE' is in an invalid state!\n")


def test_variant_list_shows_only_its_ca(fake):
    fake.add(FakeRequest("mine", ca=f"{CAS}4"))
    fake.add(FakeRequest("other", ca=f"{CAS}1"))
    out = run("list", prog="local-getcert")[1]
    assert "'mine'" in out and "'other'" not in out


def test_list_json_is_a_list_of_objects(fake):
    fake.add(FakeRequest("a", ca=f"{CAS}1"))
    code, out, _ = run("list", "--json")
    assert code == 0
    data = json.loads(out)
    assert [(d["nickname"], d["ca"], d["status"]) for d in data] == [
        ("a", "SelfSign", "MONITORING")]


def test_list_cas_json(fake):
    data = json.loads(run("list-cas", "--json", "-c", "local")[1])
    assert [d["nickname"] for d in data] == ["local"]


@pytest.mark.parametrize(("state", "stuck", "code"), [
    ("MONITORING", False, 0), ("CA_REJECTED", True, 2), ("CA_UNREACHABLE", False, 3),
    ("NEED_GUIDANCE", True, 4), ("CA_WORKING", False, 5), ("SUBMITTING", False, 5),
])
def test_status_exit_codes(fake, state, stuck, code):
    fake.add(FakeRequest("r", state=state, stuck=stuck))
    assert run("status", "-i", "r", "-v") == (
        code, f"State {state}, stuck: {'yes' if stuck else 'no'}.\n", "")


def test_request_sends_the_default_template_and_names_the_new_request(fake, monkeypatch):
    monkeypatch.setattr(commands, "hostname", lambda: "vm.example.test")
    code, out, _ = run("request", "-f", f"{fake.dir}/x.crt", "-I", "x", "-c", "local")
    assert (code, out) == (0, 'New signing request "x" added.\n')
    added = next(c for c in fake.calls if c[0] == "add_request")[1]
    assert ("CA", f"{CAS}4") in added
    assert ("template-subject", "CN=vm.example.test") in added
    assert ("template-eku", ["id-kp-serverAuth"]) in added
    assert "template-principal" not in dict(added)  # no default realm configured


def test_request_with_an_unknown_ca_fails_before_adding(fake):
    code, out, _ = run("request", "-f", f"{fake.dir}/x.crt", "-c", "nosuch")
    assert (code, out) == (1, 'No CA with name "nosuch" found.\n')
    assert not any(c[0] == "add_request" for c in fake.calls)


def test_ipa_variant_needs_a_principal_when_names_are_given(fake):
    code, out, _ = run("request", "-f", f"{fake.dir}/x.crt", "-N", "CN=x", prog="ipa-getcert")
    assert code == 1
    assert out.startswith("The IPA backend requires the use of the -K option")


def test_wait_polls_until_the_request_is_issued(fake):
    def add_with_states(entries):
        path = fake.add(FakeRequest("w", states=[("GENERATING_KEY_PAIR", False),
                                                 ("GENERATING_KEY_PAIR", False),
                                                 ("MONITORING", False)]))
        return True, path

    async def add_request(entries):
        return add_with_states(entries)

    fake.add_request = add_request
    code, out, _ = run("request", "-f", f"{fake.dir}/w.crt", "-w", "-v")
    assert code == 0
    assert out == ('New signing request "w" added.\n'
                   "State GENERATING_KEY_PAIR, stuck: no.\n"
                   "State MONITORING, stuck: no.\n")


def test_wait_stops_at_a_state_waiting_on_the_ca(fake):
    async def add_request(entries):
        return True, fake.add(FakeRequest("w", states=[("CA_WORKING", False)]))

    fake.add_request = add_request
    assert run("request", "-f", f"{fake.dir}/w.crt", "-w")[0] == 5


def test_zero_wait_timeout_gives_up_without_asking(fake):
    code, _out, _ = run("request", "-f", f"{fake.dir}/w.crt", "-w", "--wait-timeout", "0")
    assert code == 1
    assert not any(c[0] == "get_status" for c in fake.calls)


def test_resubmit_names_the_request_and_its_ca(fake):
    path = fake.add(FakeRequest("r", ca=f"{CAS}1"))
    assert run("resubmit", "-i", "r") == (0, 'Resubmitting "r" to "SelfSign".\n', "")
    assert ("resubmit", path) in fake.calls


def test_rekey_calls_rekey(fake):
    path = fake.add(FakeRequest("r"))
    assert run("rekey", "-i", "r") == (0, 'Resubmitting "r".\n', "")
    assert ("rekey", path) in fake.calls


def test_resubmit_of_an_unknown_file_fails(fake):
    assert run("resubmit", "-f", f"{fake.dir}/none.crt")[:2] == (
        1, "No request found that matched arguments.\n")


def test_start_tracking_of_a_known_request_modifies_it(fake):
    fake.add(FakeRequest("r"))
    assert run("start-tracking", "-i", "r", "-R")[:2] == (0, 'Request "r" modified.\n')


def test_stop_tracking_refuses_renew_flags_with_just_the_usage(fake):
    code, out, _ = run("stop-tracking", "-i", "r", "-r")
    assert code == 1
    assert out.startswith("getcert - client certificate enrollment tool\n")


def test_stop_tracking_removes_the_request(fake):
    fake.add(FakeRequest("r"))
    assert run("stop-tracking", "-i", "r")[:2] == (0, 'Request "r" removed.\n')
    assert fake.requests == {}


def test_refresh_only_touches_requests_waiting_on_a_ca(fake):
    fake.add(FakeRequest("done"))
    waiting = fake.add(FakeRequest("waiting", state="CA_WORKING"))
    assert run("refresh", "-a") == (0, "Request ID 'waiting' being refreshed.\n", "")
    assert [c for c in fake.calls if c[0] == "refresh"] == [("refresh", waiting)]


def test_refresh_all_forgets_earlier_selectors_but_not_later_ones(fake):
    fake.add(FakeRequest("a", state="CA_WORKING"))
    fake.add(FakeRequest("b", state="CA_WORKING"))
    assert run("refresh", "-i", "a", "-a")[1].count("being refreshed") == 2
    assert run("refresh", "-a", "-i", "a")[1].count("being refreshed") == 1


def test_modify_ca_of_an_unknown_ca_is_an_error_not_a_crash(fake):
    assert run("modify-ca", "-c", "nosuch", "-e", "/bin/true") == (
        1, 'No CA with name "nosuch" found.\n', "")


def test_remove_ca_names_the_ca_as_given(fake):
    assert run("remove-ca", "-c", "LOCAL") == (0, 'CA "LOCAL" removed.\n', "")


def test_refresh_ca_needs_a_name_or_all(fake):
    code, out, _ = run("refresh-ca")
    assert code == 1
    assert out.startswith("Neither CA nickname nor -a flag specified.\n")


def test_variant_refresh_ca_refreshes_its_own_ca(fake):
    assert run("refresh-ca", prog="local-getcert") == (
        0, "Data for CA 'local' being refreshed.\n", "")


def test_unreachable_bus_is_reported_in_two_lines(monkeypatch):
    async def connect(cls, session=False):
        raise BusUnavailable("no socket")

    monkeypatch.setattr(busmod.CertmongerBus, "connect", classmethod(connect))
    assert run("list") == (1, ("Error connecting to D-Bus.\n"
                              "Please verify that the message bus (D-Bus) service is running.\n"),
                           "")


def test_missing_service_gets_a_hint_and_with_verbose_the_error(fake):
    fake.fail_with = BusCallError("org.freedesktop.DBus.Error.ServiceUnknown", "gone")
    hint = "Please verify that the certmonger service has been started.\n"
    assert run("list")[:2] == (1, hint)
    assert run("list", "-v")[:2] == (
        1, hint + "Error org.freedesktop.DBus.Error.ServiceUnknown: gone\n")


def test_access_denied_asks_for_root(fake):
    fake.fail_with = BusCallError("org.freedesktop.DBus.Error.AccessDenied", "no")
    assert run("list")[1] == "Insufficient access.  Please retry operation as root.\n"


def test_certmonger_errors_print_their_message(fake):
    fake.fail_with = BusCallError("org.fedorahosted.certmonger.duplicate",
                                  'There is already a request with the nickname "a".')
    assert run("list")[1] == 'There is already a request with the nickname "a".\n'


def test_other_errors_print_their_name_only_without_verbose(fake):
    fake.fail_with = BusCallError("org.freedesktop.DBus.Error.UnknownMethod", "nope")
    assert run("list")[1] == "Error org.freedesktop.DBus.Error.UnknownMethod\n"
    assert run("list", "-v")[1] == "Error org.freedesktop.DBus.Error.UnknownMethod: nope\n"
