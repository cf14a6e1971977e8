"""SMTP transport configured by MILAI_SMTP_URL: plain, STARTTLS, implicit TLS, AUTH, timeouts."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

TRUE = {"1", "true", "yes", "on"}


class MailConfigError(ValueError):
    """MILAI_SMTP_URL cannot be understood."""


class MailError(RuntimeError):
    """Sending failed (connection, TLS, authentication or refusal); the message is safe to retry."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail; `repr` never shows the password."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    verify: bool = True
    cafile: str | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> SmtpConfig:
        """Parse `smtp://[user:pass@]host:port[?starttls=true]` or `smtps://…` (credentials %-decoded).

        Query options: `starttls`, `verify=false` (skip certificate checks), `cafile=PATH`, `timeout`.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise MailConfigError("MILAI_SMTP_URL must start with smtp:// or smtps://")
        try:
            port = parts.port
        except ValueError as exc:
            raise MailConfigError(f"MILAI_SMTP_URL has a bad port: {exc}") from None
        if not parts.hostname:
            raise MailConfigError("MILAI_SMTP_URL has no host")
        options = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        try:
            timeout = float(options.get("timeout", timeout))
        except ValueError:
            raise MailConfigError("MILAI_SMTP_URL has a bad timeout") from None
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=not implicit and options.get("starttls", "").lower() in TRUE,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            timeout=timeout,
            verify=options.get("verify", "true").lower() in TRUE,
            cafile=options.get("cafile"),
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def send_message(config: SmtpConfig, message: EmailMessage) -> None:
    """Deliver one message; raises MailError (never showing credentials) when it was not accepted."""
    try:
        smtp: smtplib.SMTP
        if config.implicit_tls:
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=config.ssl_context())
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with smtp:
            smtp.ehlo()
            if config.starttls:
                smtp.starttls(context=config.ssl_context())
                smtp.ehlo()
            if config.username:
                smtp.login(config.username, config.password or "")
            refused = smtp.send_message(message)
        if refused:
            raise MailError(f"recipients refused: {', '.join(refused)}")
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"SMTP authentication failed for user {config.username!r}: {exc.smtp_code}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"SMTP server {config.host}:{config.port} said {exc.smtp_code}: {exc.smtp_error!r}") from None
    except smtplib.SMTPException as exc:
        raise MailError(f"SMTP error with {config.host}:{config.port}: {exc}") from None
    except (OSError, ssl.SSLError) as exc:
        raise MailError(f"cannot reach SMTP server {config.host}:{config.port}: {exc}") from None
