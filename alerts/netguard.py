"""SSRF guard: refuse webhook targets that resolve to loopback, private or metadata addresses."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UnsafeTargetError(ValueError):
    """A webhook URL that is malformed or points at an address we refuse to call."""


def forbidden_reason(address: IPAddress) -> str | None:
    """Why `address` may not be called, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden_reason(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("carrier-grade NAT", isinstance(address, ipaddress.IPv4Address) and address in CGNAT),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return f"a {name} address"
    if not address.is_global:
        return "not a public address"
    return None


def parse_target(url: str) -> tuple[str, int]:
    """The (host, port) of an http(s) URL, or UnsafeTargetError."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTargetError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTargetError(f"invalid URL {url!r}: the scheme must be http or https")
    if not parts.hostname:
        raise UnsafeTargetError(f"invalid URL {url!r}: no host")
    if parts.username or parts.password:
        raise UnsafeTargetError(f"invalid URL {url!r}: credentials in the URL are not allowed")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTargetError(f"cannot resolve {host!r}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, *, allow_private: bool | None = None) -> None:
    """Raise UnsafeTargetError unless `url` is http(s) and every address of its host is public.

    `allow_private` defaults to settings.allow_private_webhooks (MILAI_ALLOW_PRIVATE_WEBHOOKS).
    """
    host, port = parse_target(url)
    if allow_private is None:
        from milai.config import get_settings

        allow_private = get_settings().allow_private_webhooks
    if allow_private:
        return
    for address in resolve(host, port):
        reason = forbidden_reason(address)
        if reason:
            raise UnsafeTargetError(
                f"refusing webhook target {host}: {address} is {reason} "
                "(set MILAI_ALLOW_PRIVATE_WEBHOOKS=true to allow)"
            )
