"""A small FreeIPA JSON-RPC endpoint for tests, behind real TLS and real Kerberos.

`IPAServer` answers `POST /ipa/json` over HTTPS (a certificate for `localhost` and
127.0.0.1 issued by its own test CA) and demands HTTP Negotiate authentication, checked
with a GSSAPI acceptor holding the `HTTP/<host>` key of a `KerberosRealm`.  It speaks
the two commands certmonger's ipa-submit needs, the way FreeIPA 4.x answers them:

* `cert_request`: `params = [[csr], {"principal": ..., "profile_id": ..., "cacn": ...,
  "add": ...}]`.  As FreeIPA does, it requires a principal that looks like one, a CSR
  that parses (PEM armor optional), a Referer under `https://<host>/ipa` and no unknown
  options (OptionError 3005 otherwise); then it issues a certificate from its CA with
  the CSR's subject, public key and subject alternative names.  The answer is
  `{"result": {"result": {"certificate": <base64 DER>, ...}, "value": ...}, "error":
  null, ...}`; errors are `{"result": null, "error": {"code", "message", "data",
  "name"}}`.
* `ca_show`: `[["ipa"], {"chain": true}]` gives the CA's certificate and, with `chain`,
  `certificate_chain` as a list of `{"__base64__": ...}` DER values (FreeIPA's binary
  encoding).

Every call is recorded in `calls` (body, headers, authenticated principal) for the test
to check.  Behaviour knobs, restored by `reset()`: `reject` (a JSON-RPC error for every
cert_request), `http_status` (answer every POST with this HTTP status), `unknown_options`
(options this server does not know, as an older FreeIPA), `send_chain` (add
`certificate_chain` to cert_request answers).

`IPAPeer.start(workdir)` starts a realm and a server together and writes an IPA client
configuration (`default.conf` and `ca.crt`, as in /etc/ipa) for programs that talk to
it: a daemon whose environment has `peer.env()` serves the stock IPA CA record
(`/usr/lib/certmonger/ipa-submit`) in process; `peer.helper_command()` is an
`external_helper` command line that works with the cleared environment certmonger gives
its helpers.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import http.server
import ipaddress
import json
import re
import shlex
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .kdc import KerberosRealm

API_VERSION = "4.9.11"
_DAY = datetime.timedelta(days=1)
# What FreeIPA accepts as a principal: primary[/instance][@REALM] without blanks.
_PRINCIPAL = re.compile(r"^[^/@\s]+(/[^/@\s]+)?(@[^/@\s]+)?$")
CERT_REQUEST_OPTIONS = {"principal", "profile_id", "cacn", "add", "chain", "request_type",
                        "all", "raw", "version"}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> str:
    """A certificate as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


class TestCA:
    """The endpoint's CA: the "IPA CA" (self-signed, or under an external root)."""

    __test__ = False  # not a pytest test class

    def __init__(self, realm: str, *, external_root: bool = False) -> None:
        self.realm = realm
        self.serial = 1
        self.lock = threading.Lock()
        start = _now() - _DAY
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, realm),
                             x509.NameAttribute(NameOID.COMMON_NAME, "Certificate Authority")])
        issuers: list[x509.Certificate] = []
        if external_root:
            root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "External Root CA")])
            root = self._ca_cert(root_name, root_key.public_key(), root_name, root_key, start)
            self.cert = self._ca_cert(subject, self.key.public_key(), root_name, root_key, start)
            issuers = [root]
        else:
            self.cert = self._ca_cert(subject, self.key.public_key(), subject, self.key, start)
        # The IPA CA first, then the certificates above it (FreeIPA's ca_show order).
        self.chain: list[x509.Certificate] = [self.cert, *issuers]

    @staticmethod
    def _ca_cert(subject: x509.Name, public_key: Any, issuer: x509.Name, signer: Any,
                 start: datetime.datetime) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + 3650 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                           critical=False)
        )
        return builder.sign(signer, hashes.SHA256())

    def _next_serial(self) -> int:
        with self.lock:
            self.serial += 1
            return self.serial

    def sign(self, subject: x509.Name, public_key: Any,
             sans: list[x509.GeneralName]) -> x509.Certificate:
        """Issue an end-entity certificate (TLS server and client use)."""
        start = _now() - datetime.timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.cert.subject).public_key(public_key)
            .serial_number(self._next_serial())
            .not_valid_before(start).not_valid_after(start + 730 * _DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=True,
                data_encipherment=True, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                           critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        """Issue a certificate for a CSR: its subject, key and subject alternative names."""
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            sans = list(san.value)
        except x509.ExtensionNotFound:
            sans = []
        return self.sign(csr.subject, csr.public_key(), sans)

    def ca_pem(self) -> str:
        """The CA file a client trusts (like /etc/ipa/ca.crt): every certificate of the chain."""
        return "".join(pem(cert) for cert in self.chain)


@dataclass
class RecordedCall:
    """One JSON-RPC call the endpoint answered."""

    method: str
    args: list[Any]
    options: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    client_principal: str

    @property
    def csr_b64(self) -> str:
        """The first positional argument's first value (cert_request's CSR)."""
        first = self.args[0] if self.args else None
        if isinstance(first, list):
            first = first[0] if first else None
        return first if isinstance(first, str) else ""


class JSONRPCError(Exception):
    """A FreeIPA public error: errno, class name, message and keyword data."""

    def __init__(self, code: int, name: str, message: str,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.name, self.message, self.data = code, name, message, data or {}

    def as_json(self) -> dict[str, Any]:
        """The `error` member of a FreeIPA JSON-RPC answer."""
        return {"code": self.code, "message": self.message, "data": self.data,
                "name": self.name}


def aci_error(info: str) -> JSONRPCError:
    """FreeIPA's ACIError (2100): the caller may not do this."""
    return JSONRPCError(2100, "ACIError", f"Insufficient access: {info}", {"info": info})


def certificate_operation_error(error: str) -> JSONRPCError:
    """FreeIPA's CertificateOperationError (4301): the CA failed."""
    return JSONRPCError(4301, "CertificateOperationError",
                        f"Certificate operation cannot be completed: {error}", {"error": error})


def _decode_csr(value: str) -> x509.CertificateSigningRequest:
    text = value.strip()
    if "-----BEGIN" in text:
        return x509.load_pem_x509_csr(text.encode("ascii"))
    return x509.load_der_x509_csr(base64.b64decode("".join(text.split()), validate=True))


class IPAServer:
    """A FreeIPA JSON-RPC endpoint over HTTPS with Kerberos Negotiate authentication."""

    def __init__(
        self,
        workdir: Path,
        realm: KerberosRealm,
        *,
        host: str = "localhost",
        external_root: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.realm = realm
        self.host = host
        self.ca = TestCA(realm.realm, external_root=external_root)
        self.calls: list[RecordedCall] = []
        self.errors: list[Exception] = []  # the endpoint's own failures, for debugging
        self.port = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- knobs -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget recorded calls and go back to answering every call normally."""
        self.calls.clear()
        self.reject: JSONRPCError | None = None
        self.http_status: int | None = None
        self.unknown_options: set[str] = set()
        self.send_chain = False

    @property
    def cert_requests(self) -> list[RecordedCall]:
        """The recorded cert_request calls, oldest first."""
        return [call for call in self.calls if call.method == "cert_request"]

    # -- where it is -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The JSON-RPC URL."""
        return f"https://{self.host}:{self.port}/ipa/json"

    @property
    def xmlrpc_url(self) -> str:
        """The XML-RPC URL (what older configurations name; never answered)."""
        return f"https://{self.host}:{self.port}/ipa/xml"

    @property
    def ca_file(self) -> Path:
        """The PEM file holding the CA chain clients must trust."""
        return self.workdir / "ca.crt"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on an ephemeral loopback port and serve in a thread."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file.write_text(self.ca.ca_pem())
        tls_key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(self.host), x509.DNSName("localhost"),
                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        tls_cert = self.ca.sign(
            x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.realm.realm),
                       x509.NameAttribute(NameOID.COMMON_NAME, self.host)]),
            tls_key.public_key(), sans)
        cert_file, key_file = self.workdir / "httpd.crt", self.workdir / "httpd.key"
        cert_file.write_text(pem(tls_cert) + self.ca.ca_pem())
        key_file.write_bytes(tls_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        key_file.chmod(0o600)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        import gssapi

        acceptor = gssapi.Credentials(
            usage="accept",
            store={"keytab": str(self.realm.http_keytab), "rcache": "none:"})
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler, self, context, acceptor)
        self.port = self._httpd.server_address[1]
        # A short poll interval keeps stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="ipa-json-endpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the commands ------------------------------------------------------------------

    def call(self, call: RecordedCall) -> Any:
        """Run one JSON-RPC command; returns its result or raises JSONRPCError."""
        self.calls.append(call)
        if call.method == "cert_request":
            return self._cert_request(call)
        if call.method == "ca_show":
            return self._ca_show(call)
        raise JSONRPCError(905, "CommandError", f"unknown command '{call.method}'",
                           {"name": call.method})

    def _check_options(self, call: RecordedCall, known: set[str]) -> None:
        for name in call.options:
            if name not in known or name in self.unknown_options:
                raise JSONRPCError(3005, "OptionError", f"Unknown option: {name}",
                                   {"option": name})

    def _cert_request(self, call: RecordedCall) -> Any:
        self._check_options(call, CERT_REQUEST_OPTIONS)
        if not call.args or not call.csr_b64:
            raise JSONRPCError(3007, "RequirementError", "'csr' is required", {"name": "csr"})
        principal = call.options.get("principal")
        if not principal:
            raise JSONRPCError(3007, "RequirementError", "'principal' is required",
                               {"name": "principal"})
        if not isinstance(principal, str) or not _PRINCIPAL.match(principal):
            raise JSONRPCError(3009, "ValidationError",
                               "invalid 'principal': malformed principal",
                               {"name": "principal", "error": "malformed principal"})
        try:
            csr = _decode_csr(call.csr_b64)
        except (ValueError, binascii.Error) as exc:
            message = f"Failure decoding Certificate Signing Request: {exc}"
            raise JSONRPCError(3008, "ConversionError", f"invalid 'csr': {message}",
                               {"name": "csr", "error": message}) from exc
        if self.reject is not None:
            raise self.reject
        cert = self.ca.issue(csr)
        result: dict[str, Any] = {
            "certificate": _b64(_der(cert)),
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "serial_number": cert.serial_number,
            "serial_number_hex": hex(cert.serial_number),
            "request_id": str(cert.serial_number),
            "cacn": call.options.get("cacn", "ipa"),
        }
        if self.send_chain or call.options.get("chain"):
            result["certificate_chain"] = [{"__base64__": _b64(_der(c))}
                                           for c in [cert, *self.ca.chain]]
        return {"result": result, "value": str(cert.serial_number), "summary": None}

    def _ca_show(self, call: RecordedCall) -> Any:
        self._check_options(call, {"chain", "all", "raw", "rights", "version"})
        name = call.csr_b64 or ""
        if name != "ipa":
            raise JSONRPCError(4001, "NotFound", f"{name}: Certificate Authority not found",
                               {"reason": f"{name}: Certificate Authority not found"})
        entry: dict[str, Any] = {
            "cn": ["ipa"],
            "ipacasubjectdn": [self.ca.cert.subject.rfc4514_string()],
            "ipacaissuerdn": [self.ca.cert.issuer.rfc4514_string()],
            "certificate": _b64(_der(self.ca.cert)),
        }
        if call.options.get("chain"):
            entry["certificate_chain"] = [{"__base64__": _b64(_der(c))} for c in self.ca.chain]
        return {"result": entry, "value": "ipa", "summary": None}


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, endpoint: IPAServer,
                 context: ssl.SSLContext, acceptor: Any) -> None:
        super().__init__(address, handler)
        self.endpoint, self.context, self.acceptor = endpoint, context, acceptor

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's own thread, so a slow or
        # broken client cannot stall the accept loop.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def shutdown_request(self, request: Any) -> None:
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        request.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _authenticate(self) -> tuple[str, str] | None:
        """The client principal and the mutual-auth token, or None (401 already sent)."""
        import gssapi

        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "negotiate" or not token.strip():
            self._send(401, b"Unauthorized", "text/plain",
                       {"WWW-Authenticate": "Negotiate"})
            return None
        try:
            ctx = gssapi.SecurityContext(creds=self.server.acceptor, usage="accept")
            out = ctx.step(base64.b64decode(token.strip()))
            if not ctx.complete:
                raise ValueError("the GSSAPI exchange needs more than one round")
            principal = str(ctx.initiator_name)
        except (gssapi.exceptions.GSSError, ValueError, binascii.Error):
            self._send(401, b"Unauthorized", "text/plain",
                       {"WWW-Authenticate": "Negotiate"})
            return None
        return principal, base64.b64encode(out or b"").decode("ascii")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        endpoint = self.server.endpoint
        if self.path.split("?")[0] != "/ipa/json":
            self._send(404, b"Not Found", "text/plain")
            return
        auth = self._authenticate()
        if auth is None:
            return
        principal, mutual = auth
        extra = {"WWW-Authenticate": f"Negotiate {mutual}"} if mutual else {}
        if endpoint.http_status is not None:
            endpoint.calls.append(RecordedCall("", [], {}, body, dict(self.headers), principal))
            self._send(endpoint.http_status, b"<html>Internal Server Error</html>",
                       "text/html", extra)
            return
        try:
            request = json.loads(body)
            method = request["method"]
            params = request.get("params") or [[], {}]
            args, options = list(params[0]), dict(params[1])
        except (ValueError, KeyError, TypeError, IndexError):
            self._send(400, b"Bad Request", "text/plain", extra)
            return
        call = RecordedCall(method, args, options, body, dict(self.headers), principal)
        try:
            referer = self.headers.get("Referer", "")
            if not referer.startswith(f"https://{endpoint.host}:{endpoint.port}/ipa"):
                endpoint.calls.append(call)
                raise JSONRPCError(911, "RefererError",
                                   f"Missing or invalid HTTP Referer, {referer or 'missing'}",
                                   {"referer": referer or "missing"})
            result, error = endpoint.call(call), None
        except JSONRPCError as exc:
            result, error = None, exc.as_json()
        except Exception as exc:  # noqa: BLE001 - an endpoint bug: answer as a crashed server
            endpoint.errors.append(exc)
            self._send(500, b"Internal Server Error", "text/plain", extra)
            return
        answer = {"result": result, "error": error, "id": request.get("id"),
                  "principal": principal, "version": API_VERSION}
        self._send(200, json.dumps(answer).encode("utf-8"), extra=extra)


@dataclass
class IPAPeer:
    """A Kerberos realm, an IPA endpoint and a client configuration for them."""

    realm: KerberosRealm
    server: IPAServer
    confdir: Path

    @classmethod
    def start(cls, workdir: Path, realm_name: str = "IPA.TEST", *,
              external_root: bool = False) -> IPAPeer:
        """Start a realm and an endpoint under `workdir`, and write `<workdir>/ipa`."""
        workdir = Path(workdir)
        realm = KerberosRealm(workdir / "krb5", realm_name).start()
        try:
            server = IPAServer(workdir / "httpd", realm, external_root=external_root).start()
        except BaseException:
            realm.stop()
            raise
        peer = cls(realm, server, workdir / "ipa")
        peer.write_client_config()
        return peer

    def stop(self) -> None:
        """Stop the endpoint and the KDC."""
        self.server.stop()
        self.realm.stop()

    def default_conf(self) -> str:
        """An IPA client's `default.conf` pointing at the endpoint."""
        domain = self.realm.realm.lower()
        # No deprecated `server` key: ipa-submit would prefer https://<server>/ipa/json,
        # which cannot carry the endpoint's ephemeral port.
        return ("[global]\n"
                f"basedn = dc={domain.replace('.', ',dc=')}\n"
                f"realm = {self.realm.realm}\n"
                f"domain = {domain}\n"
                f"host = {self.realm.fqdn}\n"
                f"xmlrpc_uri = {self.server.xmlrpc_url}\n"
                f"jsonrpc_uri = {self.server.url}\n"
                "enable_ra = True\n")

    def write_client_config(self, confdir: Path | None = None) -> Path:
        """Write `default.conf` and `ca.crt` (as in /etc/ipa) into `confdir`."""
        target = Path(confdir or self.confdir)
        target.mkdir(parents=True, exist_ok=True)
        (target / "default.conf").write_text(self.default_conf())
        (target / "ca.crt").write_text(self.server.ca.ca_pem())
        return target

    def env(self) -> dict[str, str]:
        """What a daemon or helper needs in its environment to reach the endpoint.

        `IPA_CONFDIR` (where default.conf and ca.crt are), the realm's krb5.conf and
        `KRB5_KTNAME`, the host keytab (a real client's /etc/krb5.keytab).
        """
        env = self.realm.env()
        env["IPA_CONFDIR"] = str(self.confdir)
        env["KRB5_KTNAME"] = f"FILE:{self.realm.host_keytab}"
        return env

    def stock_helper_args(self) -> list[str]:
        """Options that make the stock ipa-submit use this endpoint without /etc/ipa."""
        return ["-J", self.server.url, "-c", str(self.server.ca_file),
                "-t", str(self.realm.host_keytab), "-k", self.realm.host_principal]

    def helper_command(self, program: str = "/usr/lib/certmonger/ipa-submit") -> str:
        """A CA `external_helper` command line that reaches this endpoint from a daemon.

        certmonger runs helpers with a cleared environment, so the realm's krb5.conf is
        passed through `env`.  (A CA whose command starts with `env` is not recognised as
        ipa-submit by our daemon and runs as an external helper; for the in-process
        back-end, use the plain program and `env()` in the daemon's environment.)
        """
        words = ["/usr/bin/env", f"KRB5_CONFIG={self.realm.krb5_conf}", program,
                 *self.stock_helper_args()]
        return " ".join(shlex.quote(word) for word in words)
