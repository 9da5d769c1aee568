"""micromdm's SCEP server (Debian's `scep` package) on a private loopback-only network.

`scepserver` has no bind address: it always listens on every interface.  Tests therefore
run it inside a fresh network namespace whose only interface is loopback
(`private_network`), together with its clients: a network namespace belongs to a thread
and is inherited by the processes and threads it starts, so an engine whose event loop
runs on that thread, the helpers it runs and a daemon started from it all share it.
Unix-path sockets (a private D-Bus) still work across namespaces.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLONE_NEWNET = 0x40000000
SCEPSERVER = "scepserver"


def have_scepserver() -> bool:
    """Whether micromdm's scepserver is installed."""
    return shutil.which(SCEPSERVER) is not None


def can_make_private_network() -> bool:
    """Whether this process may create network namespaces (root, or CAP_SYS_ADMIN)."""
    try:
        done = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@contextmanager
def private_network() -> Iterator[None]:
    """Move the calling thread into a new network namespace with only `lo`, up.

    On exit the thread goes back to the namespace it came from; the new one disappears
    with the last process still in it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
            yield
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns: {os.strerror(err)}")
    finally:
        os.close(original)


class SCEPServer:
    """A scepserver with its own CA ("depot") in `workdir`; start it inside a private network.

    `challenge` is the challenge password it requires ("" for none); `allow_renew` is
    its `-allowrenew` (0: a new certificate for a known subject is always issued, the
    old one revoked).
    """

    def __init__(self, workdir: Path, *, port: int = 8080, challenge: str = "",
                 allow_renew: int = 0, key_size: int = 2048,
                 organization: str = "Test SCEP CA") -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.depot = self.workdir / "depot"
        self.port = port
        self.challenge = challenge
        self.allow_renew = allow_renew
        self.key_size = key_size
        self.organization = organization
        self.log = self.workdir / "scepserver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The SCEP URL, as `getcert add-scep-ca -u` takes it."""
        return f"http://127.0.0.1:{self.port}/scep"

    @property
    def ca_pem(self) -> str:
        """The server's CA certificate (it is its own RA), PEM."""
        return (self.depot / "ca.pem").read_text()

    def start(self, timeout: float = 20) -> SCEPServer:
        if not (self.depot / "ca.pem").exists():
            subprocess.run([SCEPSERVER, "ca", "-init", "-depot", str(self.depot),
                            "-keySize", str(self.key_size),
                            "-organization", self.organization],
                           check=True, capture_output=True, timeout=60)
        argv = [SCEPSERVER, "-depot", str(self.depot), "-port", str(self.port),
                "-allowrenew", str(self.allow_renew), "-debug"]
        if self.challenge:
            argv += ["-challenge", self.challenge]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"scepserver exited: {self.log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError("scepserver did not start listening") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def issued(self) -> list[str]:
        """The depot's index lines, one per certificate issued (V valid, R revoked)."""
        index = self.depot / "index.txt"
        return index.read_text().splitlines() if index.exists() else []
