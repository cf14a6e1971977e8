"""The network guard (SSRF): refuse targets that resolve to loopback, private or metadata addresses.

To defeat DNS rebinding, the sender resolves a target once (`pin`), checks every address, and
then connects to one of exactly those addresses (see `alerts.webhooks`); the host name is only
used for the `Host` header and, for https, for SNI and certificate verification.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
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
            return f"{'an' if name[0] in 'aeiou' else 'a'} {name} address"
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
    """Every address `host` resolves to, in resolver order without repeats (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTargetError(f"cannot resolve {host!r}: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeTargetError(f"cannot resolve {host!r}: no addresses")
    return addresses


def private_targets_allowed(allow_private: bool | None) -> bool:
    """`allow_private`, or MILAI_ALLOW_PRIVATE_WEBHOOKS when it is None."""
    if allow_private is None:
        from milai.config import get_settings

        return get_settings().allow_private_webhooks
    return allow_private


def _ascii_host(host: str) -> str:
    """The host as sent on the wire: IDNA (punycode) for internationalised names."""
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UnsafeTargetError(f"invalid host name {host!r}") from None


@dataclass(frozen=True)
class PinnedTarget:
    """A webhook URL resolved once; requests go to `addresses` only, never to a fresh lookup."""

    url: str
    scheme: str
    host: str  # ASCII host name (or IP literal, without brackets) for Host and SNI
    port: int
    addresses: tuple[IPAddress, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def server_name(self) -> str | None:
        """The name to send in SNI and to verify the certificate against (https only)."""
        return self.host if self.scheme == "https" else None


def refuse_forbidden(host: str, addresses: list[IPAddress]) -> None:
    """Raise UnsafeTargetError when any of `addresses` is not a public unicast address."""
    for address in addresses:
        reason = forbidden_reason(address)
        if reason:
            raise UnsafeTargetError(
                f"refusing webhook target {host}: {address} is {reason} "
                "(set MILAI_ALLOW_PRIVATE_WEBHOOKS=true to allow)"
            )


def pin(url: str, *, allow_private: bool | None = None) -> PinnedTarget:
    """Parse and resolve `url` once; unless private targets are allowed, every address must be public.

    `allow_private` defaults to settings.allow_private_webhooks (MILAI_ALLOW_PRIVATE_WEBHOOKS).
    """
    url = url.strip()
    host, port = parse_target(url)
    host = _ascii_host(host)
    addresses = resolve(host, port)
    if not private_targets_allowed(allow_private):
        refuse_forbidden(host, addresses)
    return PinnedTarget(url, urlsplit(url).scheme, host, port, tuple(addresses))


def check_url(url: str, *, allow_private: bool | None = None) -> None:
    """Raise UnsafeTargetError unless `url` is http(s) and every address of its host is public.

    Used when a subscription is created; with private targets allowed the name need not resolve
    yet. Sending re-checks with `pin`.
    """
    if private_targets_allowed(allow_private):
        parse_target(url)
    else:
        pin(url, allow_private=False)
