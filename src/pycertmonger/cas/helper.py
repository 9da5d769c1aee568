"""The external helper back-end: a CA reached through a certmonger helper program.

The CA's `external_helper` command line is run once per operation with the operation
and its data in `CERTMONGER_*` environment variables; the exit status and stdout are
the answer (certmonger 0.79.17, `src/submit-e.c` and `src/cadata.c`).  Any helper
written for certmonger works unchanged: the stock `ipa-submit`, `local-submit`,
`scep-submit`, `dogtag-submit` and third-party ones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from .. import subproc
from . import helper_output
from .base import (
    CABackend,
    CADataOp,
    CADataOutcome,
    OutcomeKind,
    Submission,
    SubmitOutcome,
)
from .helper_output import HelperOutputError

log = logging.getLogger(__name__)

# Helper exit statuses (certmonger's `enum cm_external_status`, src/submit-e.h).
ISSUED = 0
WAIT = 1
REJECTED = 2
UNREACHABLE = 3
UNCONFIGURED = 4
WAIT_WITH_DELAY = 5
OPERATION_NOT_SUPPORTED = 6
NEED_SCEP_MESSAGES = 16
NEED_REKEY = 17

# The SCEP values a submission may carry, by their helper variable names.
SCEP_VARIABLES = (
    "CERTMONGER_SCEP_CA_IDENTIFIER",
    "CERTMONGER_SCEP_RA_CERTIFICATE",
    "CERTMONGER_SCEP_CA_CERTIFICATE",
    "CERTMONGER_SCEP_CERTIFICATES",
    "CERTMONGER_PKCSREQ",
    "CERTMONGER_PKCSREQ_REKEY",
    "CERTMONGER_GETCERTINITIAL",
    "CERTMONGER_GETCERTINITIAL_REKEY",
)

_KEY_TYPES = {"RSA": "RSA", "DSA": "DSA", "EC": "EC", "ECDSA": "EC"}

# Decrypts an enveloped answer (SCEP) for a submission: (submission, DER) -> plaintext.
EnvelopeDecrypter = Callable[[Submission, bytes], bytes]


def submit_environment(submission: Submission) -> dict[str, str]:
    """The `CERTMONGER_*` variables for SUBMIT or POLL (only the non-empty ones).

    The operation is POLL exactly when the submission carries a cookie from an
    earlier WAIT.  Lists are joined with newlines, as certmonger does.
    """
    values = {
        "CERTMONGER_OPERATION": "POLL" if submission.cookie else "SUBMIT",
        "CERTMONGER_CSR": submission.csr,
        "CERTMONGER_SPKAC": submission.spkac,
        "CERTMONGER_SPKI": submission.spki,
        "CERTMONGER_KEY_TYPE": _KEY_TYPES.get(submission.key_type.upper(), ""),
        "CERTMONGER_REQ_SUBJECT": submission.subject,
        "CERTMONGER_REQ_HOSTNAME": "\n".join(submission.hostnames),
        "CERTMONGER_REQ_PRINCIPAL": "\n".join(submission.principals),
        "CERTMONGER_REQ_EMAIL": "\n".join(submission.emails),
        "CERTMONGER_REQ_IP_ADDRESS": "\n".join(submission.ip_addresses),
        "CERTMONGER_CA_NICKNAME": submission.ca_nickname,
        "CERTMONGER_CA_PROFILE": submission.profile,
        "CERTMONGER_CA_ISSUER": submission.issuer,
        "CERTMONGER_CA_COOKIE": submission.cookie,
        "CERTMONGER_CERTIFICATE": submission.certificate,
    }
    for name, value in submission.scep.items():
        if not name.startswith("CERTMONGER_"):
            name = "CERTMONGER_" + name
        if name in SCEP_VARIABLES:
            values[name] = value
    return {name: value for name, value in values.items() if value}


class ExternalHelperBackend(CABackend):
    """A CA whose operations are answered by a certmonger helper program.

    `command` is the CA's `external_helper` command line; `ca_nickname` names the CA
    in CA-data operations; `daemon_env` is the daemon's environment, from which the
    helper's is rebuilt (default: this process's).  Each run is bounded by `timeout`
    seconds and `output_limit` bytes of stdout.
    """

    def __init__(
        self,
        command: str,
        ca_nickname: str,
        *,
        daemon_env: Mapping[str, str] | None = None,
        session: bool = False,
        timeout: float = subproc.DEFAULT_HELPER_TIMEOUT,
        output_limit: int = subproc.DEFAULT_HELPER_OUTPUT_LIMIT,
        decrypt: EnvelopeDecrypter | None = None,
        cwd: str = "/",
    ) -> None:
        self.command = command
        self.ca_nickname = ca_nickname
        self.daemon_env = dict(os.environ if daemon_env is None else daemon_env)
        self.session = session
        self.timeout = timeout
        self.output_limit = output_limit
        self.decrypt = decrypt
        self.cwd = cwd

    async def _run(self, variables: Mapping[str, str]) -> subproc.RunResult:
        try:
            argv = subproc.split_command(self.command)
        except ValueError as exc:
            return subproc.RunResult(error=f'cannot parse helper "{self.command}": {exc}')
        if not argv:
            return subproc.RunResult(error="the CA has no helper command")
        env = subproc.base_environment(self.daemon_env, session=self.session)
        env.update(variables)
        result = await subproc.run(
            argv, env, timeout=self.timeout, output_limit=self.output_limit, cwd=self.cwd
        )
        log.debug("helper %r for %s: %s", argv[0], variables.get("CERTMONGER_OPERATION"),
                  result.describe(self.timeout, self.output_limit))
        return result

    def _failure(self, result: subproc.RunResult, operation: str) -> str | None:
        """Why a run gave no usable exit status (not started, killed, cut off), if so."""
        if not result.started:
            return f"{result.error} (for {operation})"
        if result.timed_out or result.truncated or result.signal is not None:
            return f"helper {result.describe(self.timeout, self.output_limit)}"
        return None

    async def submit(self, submission: Submission) -> SubmitOutcome:
        """Run the helper for SUBMIT (or POLL) and map its answer (certmonger's rules)."""
        variables = submit_environment(submission)
        if "CERTMONGER_CA_NICKNAME" not in variables and self.ca_nickname:
            variables["CERTMONGER_CA_NICKNAME"] = self.ca_nickname
        operation = variables["CERTMONGER_OPERATION"]
        result = await self._run(variables)
        failure = self._failure(result, operation)
        if failure is not None:
            return SubmitOutcome(OutcomeKind.NEED_GUIDANCE, error=failure)
        code = result.exit_code
        text = result.stdout.decode("utf-8", "replace")
        said = helper_output.first_line(text)

        if code == ISSUED:
            return self._issued(result.stdout, submission)
        if code == WAIT:
            if not text:
                return SubmitOutcome(
                    OutcomeKind.NEED_GUIDANCE, error="helper asked to wait but gave no cookie"
                )
            return SubmitOutcome(OutcomeKind.WAIT, cookie=helper_output.sanitize_cookie(text))
        if code == WAIT_WITH_DELAY:
            try:
                delay, cookie = helper_output.parse_delay_and_cookie(text)
            except HelperOutputError as exc:
                return SubmitOutcome(
                    OutcomeKind.NEED_GUIDANCE, error=f"helper asked to wait: {exc}"
                )
            return SubmitOutcome(OutcomeKind.WAIT, cookie=cookie, delay=delay)
        simple = {
            REJECTED: OutcomeKind.REJECTED,
            UNREACHABLE: OutcomeKind.UNREACHABLE,
            UNCONFIGURED: OutcomeKind.UNCONFIGURED,
            NEED_SCEP_MESSAGES: OutcomeKind.NEED_SCEP_MESSAGES,
            NEED_REKEY: OutcomeKind.NEED_REKEY,
        }
        if code in simple:
            return SubmitOutcome(simple[code], error=said)
        if code == OPERATION_NOT_SUPPORTED:
            # certmonger has no handling for "not supported" in SUBMIT/POLL.
            return SubmitOutcome(
                OutcomeKind.NEED_GUIDANCE, error=said or f"helper does not support {operation}"
            )
        return SubmitOutcome(
            OutcomeKind.NEED_GUIDANCE, error=said or f"helper exited with status {code}"
        )

    def _issued(self, stdout: bytes, submission: Submission) -> SubmitOutcome:
        if not stdout.strip():
            return SubmitOutcome(
                OutcomeKind.NEED_GUIDANCE, error="helper reported issuance but printed nothing"
            )
        decrypt = None
        if self.decrypt is not None:
            decrypter = self.decrypt

            def decrypt(blob: bytes) -> bytes:
                return decrypter(submission, blob)

        try:
            cert, chain, roots = helper_output.parse_issued(stdout, decrypt)
        except HelperOutputError as exc:
            return SubmitOutcome(OutcomeKind.NEED_GUIDANCE, error=f"helper output: {exc}")
        return SubmitOutcome(OutcomeKind.ISSUED, cert=cert, chain=chain, roots=roots)

    async def fetch_data(self, op: CADataOp) -> CADataOutcome:
        """Run the helper for one CA-data operation (only the operation and CA nickname set)."""
        variables = {"CERTMONGER_OPERATION": op.value}
        if self.ca_nickname:
            variables["CERTMONGER_CA_NICKNAME"] = self.ca_nickname
        result = await self._run(variables)
        failure = self._failure(result, op.value)
        if failure is not None:
            return CADataOutcome(OutcomeKind.NEED_GUIDANCE, error=failure)
        code = result.exit_code
        text = result.stdout.decode("utf-8", "replace")
        said = helper_output.first_line(text)
        if code == ISSUED:
            return CADataOutcome(OutcomeKind.ISSUED, text=text)
        if code == WAIT:
            return CADataOutcome(OutcomeKind.WAIT, error=said)
        if code == WAIT_WITH_DELAY:
            # certmonger takes the delay when the first line is a number (a line end
            # is optional here) and otherwise retries after its usual delay.
            try:
                delay, _ = helper_output.parse_delay_and_cookie(text, require_newline=False)
            except HelperOutputError:
                delay = None
            return CADataOutcome(OutcomeKind.WAIT, delay=delay)
        if code == REJECTED:
            return CADataOutcome(OutcomeKind.REJECTED, error=said)
        if code in (UNREACHABLE, UNCONFIGURED):
            return CADataOutcome(OutcomeKind.UNREACHABLE, error=said)
        if code == OPERATION_NOT_SUPPORTED:
            return CADataOutcome(OutcomeKind.NOT_SUPPORTED)
        return CADataOutcome(
            OutcomeKind.NEED_GUIDANCE, error=said or f"helper exited with status {code}"
        )
