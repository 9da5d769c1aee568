"""The local signer: a small CA kept in a directory, shared with certmonger's `local-submit`.

The directory holds what certmonger's local-submit keeps there (certmonger's local.c),
so either program can take over from the other:

* `creds`: PKCS#12 with an empty password and the friendly name `Local Signing
  Authority`, holding the CA key, the current CA certificate and every earlier one;
* `serial`: the next serial number as uppercase hex (`00`-prefixed when the high bit is
  set) and a newline;
* `lock`: a `lockf` lock held for the whole of each operation.

The CA certificate is self-signed, RSA-2048, subject `CN=Local Signing Authority,
CN=<uuid>` (DER order), serial = the uuid, basicConstraints CA:TRUE and keyUsage
digitalSignature, keyCertSign, cRLSign (both critical), subject and authority key IDs.
It is replaced, keeping its subject, when less than half of its lifetime is left (or it
is not valid yet); the old certificates stay in `creds` and are published as
`Local Signing Authority 2`, `3`, ...

Issued certificates copy the subject, public key and requested extensions of the CSR,
add basicConstraints CA:FALSE (critical) when missing, the CA's key ID as authority key
ID, a subject key ID when missing, and end when the CA certificate ends.

Deliberate differences from local-submit: files are replaced atomically; the key bag in
`creds` is not encrypted (local-submit encrypts it with the empty password, which
protects nothing; the file is 0600 either way); the directory is created when missing;
an unreadable CSR is rejected (exit 2 with a message) instead of exit 1 with no output.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import getopt
import hashlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtensionOID, NameOID

from ..crypto import csr as csrmod
from .base import CABackend, CADataOp, CADataOutcome, OutcomeKind, Submission, SubmitOutcome
from .selfsign import copy_requested_extensions

CA_NAME = "Local Signing Authority"
IDENTITY = f"{CA_NAME} (certmonger 0.79.17)"
DEFAULT_VALIDITY = 365 * 86400
CA_KEY_SIZE = 2048

# certmonger's helper exit statuses (submit-e.h).
EXIT_ISSUED = 0
EXIT_REJECTED = 2
EXIT_UNREACHABLE = 3
EXIT_UNCONFIGURED = 4
EXIT_NOT_SUPPORTED = 6

USAGE = ("Usage: local-submit [-v?] [-d|--ca-data-directory=DIRECTORY] [-v|--verbose]\n"
         "        [-?|--help] [--usage] [options...] [csrfile]\n")


class BadRequestError(ValueError):
    """The CSR handed to the local CA cannot be read."""


def serial_hex(serial: int) -> str:
    """A serial as local-submit writes it: uppercase hex, whole octets, `00` before a high bit."""
    text = format(serial, "X")
    if len(text) % 2:
        text = "0" + text
    if text[0] in "89ABCDEF":
        text = "00" + text
    return text


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(seconds), tz=datetime.UTC)


def _write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data`: a private temp file, fsync, rename, fsync the directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(directory: Path) -> threading.Lock:
    key = os.path.realpath(directory)
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())


def _key_id(cert: x509.Certificate) -> bytes:
    """The CA certificate's subject key ID (computed the RFC 5280 way when it has none)."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


class LocalCA:
    """The local signer's directory and the operations on it; every call is blocking."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        validity: int = DEFAULT_VALIDITY,
        clock: Callable[[], float] = time.time,
        digest: str = "sha256",
    ) -> None:
        self.directory = Path(directory)
        self.validity = validity
        self.clock = clock
        self.digest = digest
        # Parsing `creds` validates the RSA key (tens of milliseconds): keep the result
        # while the file is the same file with the same size and time.
        self._creds_cache: tuple[tuple[int, int, int], tuple[
            rsa.RSAPrivateKey | None, x509.Certificate | None, list[x509.Certificate]]] | None = None

    # -- directory ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # lockf locks belong to the process, so threads of this process also need a lock
        # of their own; the file lock keeps other processes (local-submit) out.
        with _thread_lock(self.directory):
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing drops the lock

    def _read_serial(self) -> int | None:
        try:
            text = (self.directory / "serial").read_text().splitlines()
        except FileNotFoundError:
            return None
        try:
            return int(text[0].strip(), 16) if text else None
        except ValueError:
            return None

    def _write_serial(self, serial: int) -> None:
        _write_atomic(self.directory / "serial", (serial_hex(serial) + "\n").encode())

    def _read_creds(
        self,
    ) -> tuple[rsa.RSAPrivateKey | None, x509.Certificate | None, list[x509.Certificate]]:
        path = self.directory / "creds"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None, None, []
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._creds_cache is not None and self._creds_cache[0] == stamp:
            key, cert, older = self._creds_cache[1]
            return key, cert, list(older)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, None, []
        result = self._parse_creds(data)
        self._creds_cache = (stamp, result)
        return result[0], result[1], list(result[2])

    @staticmethod
    def _parse_creds(
        data: bytes,
    ) -> tuple[rsa.RSAPrivateKey | None, x509.Certificate | None, list[x509.Certificate]]:
        try:
            bundle = pkcs12.load_pkcs12(data, None)
        except ValueError:
            try:
                bundle = pkcs12.load_pkcs12(data, b"")
            except ValueError:
                return None, None, []  # local-submit starts over on bad data too
        key = bundle.key if isinstance(bundle.key, rsa.RSAPrivateKey) else None
        cert = bundle.cert.certificate if bundle.cert else None
        return key, cert, [c.certificate for c in bundle.additional_certs]

    def _write_creds(self, key: rsa.RSAPrivateKey, cert: x509.Certificate,
                     older: list[x509.Certificate]) -> None:
        name = CA_NAME.encode()
        data = pkcs12.serialize_key_and_certificates(
            name, key, cert, [pkcs12.PKCS12Certificate(c, name) for c in older],
            serialization.NoEncryption(),
        )
        _write_atomic(self.directory / "creds", data)

    # -- the CA certificate ------------------------------------------------------------

    def _needs_new_ca(self, cert: x509.Certificate, now: float) -> bool:
        start = cert.not_valid_before_utc.timestamp()
        end = cert.not_valid_after_utc.timestamp()
        # local-submit renews once less than half of the lifetime is left.
        return start > now or (end - now) < (end - start) / 2

    def _make_ca_cert(self, key: rsa.RSAPrivateKey, subject: x509.Name, serial: int,
                      now: float) -> x509.Certificate:
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        # local-submit's key ID is the SHA-1 of the whole SubjectPublicKeyInfo.
        key_id = hashlib.sha1(spki).digest()
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(_utc(now))
            .not_valid_after(_utc(now + self.validity))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier(key_id), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier(key_id, None, None), critical=False)
            .add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False,
                              key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False),
                critical=True)
            .sign(key, csrmod.hash_algorithm(self.digest))
        )

    def _signer(self) -> tuple[rsa.RSAPrivateKey, x509.Certificate, list[x509.Certificate]]:
        """The CA key, its current certificate and the earlier ones; renewed when due."""
        now = self.clock()
        key, cert, older = self._read_creds()
        if key is not None and cert is not None and not self._needs_new_ca(cert, now):
            return key, cert, older
        ident = uuid.uuid4().bytes
        if cert is not None:
            subject = cert.subject
            older = older + [cert]
        else:
            words = [ident[i:i + 4].hex() for i in range(0, 16, 4)]
            subject = x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME, _type=_ASN1Type.UTF8String),
                x509.NameAttribute(NameOID.COMMON_NAME, "-".join(words),
                                   _type=_ASN1Type.UTF8String),
            ])
        serial = self._read_serial()
        if serial is None:
            serial = int.from_bytes(ident, "big")
        key = rsa.generate_private_key(public_exponent=65537, key_size=CA_KEY_SIZE)
        cert = self._make_ca_cert(key, subject, serial, now)
        self._write_serial(serial + 1)
        self._write_creds(key, cert, older)
        return key, cert, older

    # -- operations --------------------------------------------------------------------

    def roots(self) -> list[tuple[str, str]]:
        """The CA certificates as (nickname, PEM): the current one, then the earlier ones."""
        with self._locked():
            _key, cert, older = self._signer()
        out = []
        for i, c in enumerate([cert, *older]):
            nickname = CA_NAME if i == 0 else f"{CA_NAME} {i + 1}"
            out.append((nickname, c.public_bytes(serialization.Encoding.PEM).decode("ascii")))
        return out

    def issue(self, csr_pem: str) -> str:
        """A PEM certificate for the CSR.  BadRequestError when the CSR cannot be read."""
        try:
            request = csrmod.load_csr(csr_pem)
            csrmod.requested_extensions(request)
        except ValueError as exc:
            raise BadRequestError(f"Unable to read signing request: {exc}") from exc
        with self._locked():
            key, ca_cert, _older = self._signer()
            serial = self._read_serial()
            if serial is None:
                serial = int.from_bytes(uuid.uuid4().bytes, "big")
            now = self.clock()
            builder = (
                x509.CertificateBuilder()
                .subject_name(request.subject)
                .issuer_name(ca_cert.subject)
                .public_key(request.public_key())
                .serial_number(serial)
                .not_valid_before(_utc(now))
                # A certificate never outlives the CA that issued it.
                .not_valid_after(ca_cert.not_valid_after_utc)
            )
            akid = ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string
            builder, added = copy_requested_extensions(builder, request, frozenset({akid}))
            if ExtensionOID.BASIC_CONSTRAINTS.dotted_string not in added:
                builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                                critical=True)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier(_key_id(ca_cert), None, None), critical=False)
            if ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string not in added:
                builder = builder.add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(request.public_key()),
                    critical=False)
            cert = builder.sign(key, csrmod.hash_algorithm(self.digest))
            self._write_serial(serial + 1)
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def format_roots(roots: list[tuple[str, str]]) -> str:
    """FETCH-ROOTS output in certmonger's text format: nickname line, then PEM, per cert."""
    out = []
    for nickname, pem in roots:
        out.append(nickname + "\n" + pem.rstrip("\n") + "\n")
    return "".join(out)


class LocalBackend(CABackend):
    """The local signer, run in process (in a worker thread: it does file I/O and RSA)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        validity: int = DEFAULT_VALIDITY,
        clock: Callable[[], float] = time.time,
        digest: str = "sha256",
    ) -> None:
        self.ca = LocalCA(directory, validity=validity, clock=clock, digest=digest)

    async def submit(self, submission: Submission) -> SubmitOutcome:
        """Issue at once (SUBMIT and POLL alike); the local CA never makes anyone wait."""
        if not submission.csr.strip():
            return SubmitOutcome(OutcomeKind.UNCONFIGURED,
                                 error="Unable to read signing request.")
        try:
            pem = await asyncio.to_thread(self.ca.issue, submission.csr)
        except BadRequestError as exc:
            return SubmitOutcome(OutcomeKind.REJECTED, error=str(exc))
        except (OSError, ValueError) as exc:
            return SubmitOutcome(OutcomeKind.UNREACHABLE, error=f"Error reading signer info: {exc}")
        return SubmitOutcome(OutcomeKind.ISSUED, cert=pem)

    async def fetch_data(self, op: CADataOp) -> CADataOutcome:
        """IDENTIFY, FETCH-ROOTS and GET-NEW-REQUEST-REQUIREMENTS, as local-submit answers."""
        if op is CADataOp.IDENTIFY:
            return CADataOutcome(OutcomeKind.ISSUED, text=IDENTITY + "\n")
        if op is CADataOp.GET_NEW_REQUEST_REQUIREMENTS:
            return CADataOutcome(OutcomeKind.ISSUED, text="")
        if op is CADataOp.FETCH_ROOTS:
            try:
                roots = await asyncio.to_thread(self.ca.roots)
            except (OSError, ValueError) as exc:
                return CADataOutcome(OutcomeKind.UNREACHABLE,
                                     error=f"Error reading signer info: {exc}")
            return CADataOutcome(OutcomeKind.ISSUED, text=format_roots(roots))
        return CADataOutcome(OutcomeKind.NOT_SUPPORTED)


def helper_main(argv: list[str] | None = None) -> int:
    """`local-submit` as a certmonger helper: CERTMONGER_OPERATION in, exit status out."""
    from ..config import Config
    from ..paths import Paths

    args = sys.argv[1:] if argv is None else argv
    operation = os.environ.get("CERTMONGER_OPERATION", "SUBMIT").strip().upper()
    if operation == "IDENTIFY":
        print(IDENTITY)
        return EXIT_ISSUED
    if operation == "GET-NEW-REQUEST-REQUIREMENTS":
        return EXIT_ISSUED
    if operation not in ("SUBMIT", "POLL", "FETCH-ROOTS"):
        return EXIT_NOT_SUPPORTED
    try:
        opts, rest = getopt.gnu_getopt(args, "d:v?", ["ca-data-directory=", "verbose", "help",
                                                       "usage"])
    except getopt.GetoptError as exc:
        sys.stderr.write(f"{exc}\n{USAGE}")
        return EXIT_UNCONFIGURED
    paths = Paths.from_env()
    directory = str(paths.local_ca_dir)
    for opt, value in opts:
        if opt in ("-d", "--ca-data-directory"):
            directory = value
        elif opt in ("-?", "--help", "--usage"):
            sys.stdout.write(USAGE)
            return EXIT_ISSUED
    validity = Config.load(paths.config_dir).local_validity
    ca = LocalCA(directory, validity=validity)
    if operation == "FETCH-ROOTS":
        try:
            sys.stdout.write(format_roots(ca.roots()))
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"Error reading signer info: {exc}\n")
            return EXIT_UNREACHABLE
        return EXIT_ISSUED
    if rest:
        try:
            csr_text = Path(rest[0]).read_text(errors="replace")
        except OSError:
            csr_text = ""
    else:
        csr_text = os.environ.get("CERTMONGER_CSR", "")
    if not csr_text.strip():
        print("Unable to read signing request.")
        sys.stderr.write(USAGE)
        return EXIT_UNCONFIGURED
    try:
        sys.stdout.write(ca.issue(csr_text))
    except BadRequestError as exc:
        print(exc)
        return EXIT_REJECTED
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"Error reading signer info: {exc}\n")
        return EXIT_UNREACHABLE
    return EXIT_ISSUED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(helper_main())
