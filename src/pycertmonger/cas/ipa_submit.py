"""`pycertmonger-ipa-submit`: the IPA back-end as a certmonger helper program.

A drop-in for certmonger's `ipa-submit`: the same options, the operation in
`CERTMONGER_OPERATION` (SUBMIT when unset), the CSR in `CERTMONGER_CSR` or a file named
on the command line, the principal in `CERTMONGER_REQ_PRINCIPAL` (first line), the
profile and sub-CA in `CERTMONGER_CA_PROFILE` and `CERTMONGER_CA_ISSUER`.  The answer is
the exit status of certmonger's helper protocol (0 issued, 2 rejected, 3 unreachable,
4 under-configured, 6 not supported), with the certificate in PEM, or the reason for a
failure, on stdout; progress notes go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .base import CADataOp, OutcomeKind
from .ipa import IPAClient, IPARequest
from .ipa_config import USAGE, IPAOptions, IPASettings, IPAUsageError

EXIT_ISSUED = 0
EXIT_REJECTED = 2
EXIT_UNREACHABLE = 3
EXIT_UNCONFIGURED = 4
EXIT_NOT_SUPPORTED = 6

_EXIT_FOR = {
    OutcomeKind.ISSUED: EXIT_ISSUED,
    OutcomeKind.REJECTED: EXIT_REJECTED,
    OutcomeKind.UNREACHABLE: EXIT_UNREACHABLE,
    OutcomeKind.UNCONFIGURED: EXIT_UNCONFIGURED,
    OutcomeKind.NOT_SUPPORTED: EXIT_NOT_SUPPORTED,
}

_CA_DATA_OPS = {op.value: op for op in CADataOp}


def _say(text: str) -> None:
    """A line on stdout, where certmonger takes the first line as the request's ca-error."""
    sys.stdout.write(text.rstrip("\n") + "\n")


def _read_csr(options: IPAOptions, env: Mapping[str, str]) -> tuple[str, str]:
    """The CSR text and, when there is none, certmonger's complaint."""
    csr = env.get("CERTMONGER_CSR")
    if csr is not None:
        return csr, "" if csr.strip() else (
            'Unable to read signing request from environment variable "CERTMONGER_CSR".')
    if options.csr_file:
        try:
            return Path(options.csr_file).read_text(errors="replace"), ""
        except OSError:
            return "", f'Unable to read signing request from file "{options.csr_file}".'
    return "", 'Unable to read signing request from environment variable "CERTMONGER_CSR".'


def main(argv: list[str] | None = None) -> int:
    """Run one helper operation; returns certmonger's exit status for it."""
    args = sys.argv[1:] if argv is None else list(argv)
    env = dict(os.environ)
    operation = (env.get("CERTMONGER_OPERATION") or "SUBMIT").strip().upper()
    # Answers that need neither the command line nor the server (as ipa-submit does).
    if operation in ("IDENTIFY", "GET-NEW-REQUEST-REQUIREMENTS"):
        sys.stdout.write(IPAClient(IPASettings()).fetch_data(_CA_DATA_OPS[operation]).text)
        return EXIT_ISSUED
    if operation not in ("SUBMIT", "POLL", "FETCH-ROOTS"):
        return EXIT_NOT_SUPPORTED
    try:
        options = IPAOptions.parse(args)
    except IPAUsageError as exc:
        _say(str(exc))
        sys.stderr.write(USAGE)
        return EXIT_UNCONFIGURED
    if options.help:
        sys.stdout.write(USAGE)
        return EXIT_ISSUED
    if options.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    settings = IPASettings.resolve(options, env)
    client = IPAClient(settings)
    if operation == "FETCH-ROOTS":
        data = client.fetch_roots()
        if data.kind is OutcomeKind.ISSUED:
            sys.stdout.write(data.text)
            return EXIT_ISSUED
        _say(data.error)
        return EXIT_UNREACHABLE
    principal = settings.request_principal or env.get("CERTMONGER_REQ_PRINCIPAL", "")
    if not principal.strip():
        _say("Unable to determine principal name for signing request.")
        sys.stderr.write(USAGE)
        return EXIT_UNCONFIGURED
    csr, complaint = _read_csr(options, env)
    if complaint:
        _say(complaint)
        sys.stderr.write(USAGE)
        return EXIT_UNCONFIGURED
    if settings.url:
        sys.stderr.write(f'Submitting request to "{settings.url}".\n')
    issued = client.submit(IPARequest(
        csr=csr, principal=principal,
        profile=env.get("CERTMONGER_CA_PROFILE", ""), issuer=env.get("CERTMONGER_CA_ISSUER", "")))
    if issued.kind is OutcomeKind.ISSUED:
        sys.stdout.write(issued.cert)
        for _, pem in [*issued.chain, *issued.roots]:
            sys.stdout.write(pem)
        return EXIT_ISSUED
    _say(issued.error)
    return _EXIT_FOR.get(issued.kind, EXIT_UNREACHABLE)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
