"""The request state machine: certmonger's transitions, as pure functions."""

from __future__ import annotations

import pytest

from pycertmonger import machine
from pycertmonger.machine import Action, Facts, Outcome, Rest
from pycertmonger.model import State

S = State


NO_FACTS = Facts()


def run(path: list[tuple[State, Outcome]], facts: Facts = NO_FACTS) -> list[State]:
    """States visited (passing ones included) walking a list of (state, outcome)."""
    seen = []
    for state, outcome in path:
        step = machine.advance(state, outcome, facts)
        seen.extend(step.passing)
        seen.append(step.state)
    return seen


def test_a_new_request_without_key_goes_to_key_generation() -> None:
    step = machine.advance(S.NEWLY_ADDED, Outcome.NO_KEY)
    assert step.state is S.NEED_KEY_PAIR
    assert step.passing == (S.NEWLY_ADDED_DECIDING,)


def test_first_issuance_follows_certmongers_sequence() -> None:
    seen = run([(S.NEED_KEY_PAIR, Outcome.OK), (S.NEED_CSR, Outcome.OK),
                (S.NEED_TO_SUBMIT, Outcome.ISSUED), (S.NEED_TO_SAVE_CERT, Outcome.OK),
                (S.START_SAVING_CERT, Outcome.OK), (S.NEED_TO_SAVE_CA_CERTS, Outcome.OK),
                (S.NEED_TO_READ_CERT, Outcome.OK), (S.POST_SAVED_CERT, Outcome.OK),
                (S.NEED_TO_NOTIFY_ISSUED_SAVED, Outcome.OK)])
    assert seen == [S.HAVE_KEY_PAIR, S.NEED_KEYINFO, S.READING_KEYINFO, S.HAVE_KEYINFO,
                    S.NEED_CSR, S.HAVE_CSR, S.NEED_TO_SUBMIT, S.NEED_TO_SAVE_CERT,
                    S.START_SAVING_CERT, S.SAVED_CERT, S.NEED_TO_SAVE_CA_CERTS,
                    S.NEED_TO_READ_CERT, S.POST_SAVED_CERT, S.NEED_TO_NOTIFY_ISSUED_SAVED,
                    S.MONITORING]


def test_tracking_an_existing_certificate_goes_straight_to_monitoring() -> None:
    step = machine.advance(S.NEWLY_ADDED, Outcome.FOUND_CERT, Facts(has_cert=True))
    assert step.state is S.MONITORING and step.rest is Rest.MONITOR


def test_tracking_with_ca_certificates_to_save_saves_them_first() -> None:
    step = machine.advance(S.NEWLY_ADDED, Outcome.FOUND_CERT,
                           Facts(has_cert=True, ca_certs_to_save=True))
    assert step.state is S.NEED_TO_SAVE_ONLY_CA_CERTS


def test_no_key_location_and_no_certificate_needs_guidance() -> None:
    step = machine.advance(S.NEWLY_ADDED, Outcome.NO_STORAGE)
    assert step.state is S.NEED_GUIDANCE and step.state.stuck


@pytest.mark.parametrize("outcome,state,stuck", [
    (Outcome.NO_CA, S.NEED_CA, True),
    (Outcome.WAIT, S.CA_WORKING, False),
    (Outcome.UNREACHABLE, S.CA_UNREACHABLE, False),
    (Outcome.UNCONFIGURED, S.CA_UNCONFIGURED, True),
    (Outcome.NEED_GUIDANCE, S.NEED_GUIDANCE, True),
    (Outcome.NEED_REKEY, S.NEED_KEY_PAIR, False),
])
def test_submission_outcomes(outcome: Outcome, state: State, stuck: bool) -> None:
    step = machine.advance(S.NEED_TO_SUBMIT, outcome)
    assert step.state is state
    assert step.state.stuck is stuck


def test_rejection_is_notified_then_stuck() -> None:
    assert run([(S.NEED_TO_SUBMIT, Outcome.REJECTED),
                (S.NEED_TO_NOTIFY_REJECTION, Outcome.OK)]) == \
        [S.NEED_TO_NOTIFY_REJECTION, S.CA_REJECTED]
    assert S.CA_REJECTED.stuck


def test_rejected_renewal_keeps_monitoring_the_old_certificate() -> None:
    step = machine.advance(S.NEED_TO_SUBMIT, Outcome.REJECTED, Facts(has_cert=True))
    assert step.state is S.MONITORING


def test_waiting_states_resume_with_a_new_submission() -> None:
    assert machine.forward(S.CA_WORKING) is S.NEED_TO_SUBMIT
    assert machine.forward(S.CA_UNREACHABLE) is S.NEED_TO_SUBMIT


def test_monitoring_renews_with_a_new_csr_or_a_new_key() -> None:
    assert machine.advance(S.MONITORING, Outcome.RENEW).state is S.NEED_CSR
    assert machine.advance(S.MONITORING, Outcome.REKEY).state is S.NEED_KEY_PAIR
    assert machine.advance(S.MONITORING, Outcome.NOTHING).rest is Rest.MONITOR


def test_permission_problems_are_stuck_states() -> None:
    assert machine.advance(S.NEED_KEY_PAIR, Outcome.PERMS).state is S.NEED_KEY_GEN_PERMS
    assert machine.advance(S.START_SAVING_CERT, Outcome.PERMS).state is S.NEED_CERTSAVE_PERMS
    assert S.NEED_KEY_GEN_PERMS.stuck and S.NEED_CERTSAVE_PERMS.stuck


def test_other_key_failures_are_retried_soon() -> None:
    step = machine.advance(S.NEED_KEY_PAIR, Outcome.FAILED)
    assert step.state is S.NEED_KEY_PAIR and step.rest is Rest.SOON


def test_an_impossible_outcome_is_refused() -> None:
    with pytest.raises(ValueError):
        machine.advance(S.NEED_KEY_PAIR, Outcome.ISSUED)


@pytest.mark.parametrize("state,resumes", [
    (S.GENERATING_KEY_PAIR, S.NEED_KEY_PAIR),
    (S.SUBMITTING, S.HAVE_CSR),
    (S.CA_UNREACHABLE, S.HAVE_CSR),
    (S.NEED_CA, S.HAVE_CSR),
    (S.SAVING_CERT, S.NEED_TO_SAVE_CERT),
    (S.POST_SAVED_CERT, S.NEED_TO_NOTIFY_ISSUED_SAVED),
    (S.NEWLY_ADDED_READING_CERT, S.NEWLY_ADDED),
    (S.MONITORING, S.MONITORING),
    (S.CA_REJECTED, S.CA_REJECTED),
    (S.NEED_GUIDANCE, S.NEED_GUIDANCE),
])
def test_restart_resumes_from_certmongers_resume_points(state: State, resumes: State) -> None:
    assert machine.reset(state) is resumes


def test_every_state_leads_somewhere_or_is_a_rest() -> None:
    for state in State:
        resumed = machine.reset(state)
        assert (machine.action_for(resumed) is not None or machine.forward(resumed)
                or resumed.stuck or resumed in {S.CA_REJECTED, S.NEED_GUIDANCE}), state


def test_stuck_set_matches_certmonger() -> None:
    stuck = {s for s in State if s.stuck}
    assert {S.NEED_CA, S.NEED_GUIDANCE, S.CA_REJECTED, S.CA_UNCONFIGURED,
            S.NEED_CSR_GEN_PIN, S.NEED_SCEP_ENCRYPTION_CERT} <= stuck
    assert not ({S.CA_UNREACHABLE, S.CA_WORKING, S.MONITORING, S.SUBMITTING} & stuck)


def test_every_action_has_its_working_states() -> None:
    assert set(machine.WORKING) == set(Action)
