"""Real SMTP servers for tests (aiosmtpd): plain, with AUTH, with STARTTLS or implicit TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A fresh certificate for localhost / 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Collector:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.server.lock:
            self.server.messages.append(message)  # type: ignore[arg-type]
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 keeping every accepted message in `messages`.

    `credentials=(user, password)` requires AUTH; `tls="starttls"` requires STARTTLS and
    `tls="implicit"` speaks TLS from the first byte (certificate in `cafile`).
    """

    def __init__(
        self, *, port: int | None = None, credentials: tuple[str, str] | None = None,
        tls: str | None = None, cert_dir: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.credentials = credentials
        self.tls = tls
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.auth_failures = 0
        self.lock = threading.Lock()
        self.cafile: Path | None = None
        self._context: ssl.SSLContext | None = None
        if tls:
            assert cert_dir is not None, "TLS needs a directory for the certificate"
            cert, key = self_signed_cert(cert_dir)
            self.cafile = cert
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(cert, key)
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        if not ok:
            self.auth_failures += 1
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self.credentials:
            kwargs.update(
                auth_required=True, authenticator=self._authenticate, auth_require_tls=self.tls is not None
            )
        if self.tls == "starttls":
            kwargs.update(tls_context=self._context, require_starttls=True)
        if self.tls == "implicit":
            kwargs.update(ssl_context=self._context, server_hostname="localhost")
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def url(self, *, user: str | None = None, password: str | None = None) -> str:
        """The MILAI_SMTP_URL for this server (credentials must already be %-encoded)."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        auth = f"{user}:{password}@" if user is not None else ""
        options = []
        if self.tls == "starttls":
            options.append("starttls=true")
        if self.cafile:
            options.append(f"cafile={self.cafile}")
        query = ("?" + "&".join(options)) if options else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}{query}"

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
