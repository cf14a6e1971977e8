"""The network guard (SSRF) for everything that leaves the process: crawler requests, redirects and
robots.txt (through crawler.resolver / crawler.guard), webhooks and Apprise (alerts).

A private, loopback, link-local, CGNAT, multicast, reserved or cloud-metadata address -- also when it is
embedded in an IPv4-mapped, 6to4 (2002::/16), Teredo (2001::/32) or NAT64 (64:ff9b::/96) IPv6 address --
is called only when it is explicitly trusted: listed in the allow-list (MILAI_NETWORK_ALLOWLIST: CIDR
networks and/or host[:port] names, for intranet deployments), or, for the crawler only, the
operator-configured source URL's own origin. MILAI_ALLOW_PRIVATE_WEBHOOKS lifts the check for webhooks
(tests, trusted networks). This module reads no settings: callers hand it the allow-list (the crawler from
its Scrapy settings) or a `TargetPolicy` (alerts, from their `Settings.target_policy`).

To defeat DNS rebinding, the webhook sender resolves a target once (`pin`), checks every address, and
then connects to one of exactly those addresses (see `alerts.webhooks`); the host name is only
used for the `Host` header and, for https, for SNI and certificate verification. The crawler checks the
addresses at connect time, in its DNS resolver (crawler.resolver).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2", "192.0.0.192")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))  # RFC 6052, RFC 8215
SIXTOFOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWLIST_HINT = "list it in MILAI_NETWORK_ALLOWLIST to allow"


class UnsafeTargetError(ValueError):
    """A webhook URL that is malformed or points at an address we refuse to call."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 transition address stands for: (mechanism, addresses), or None."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", [address.ipv4_mapped]
    if address in SIXTOFOUR and address.sixtofour is not None:
        return "6to4", [address.sixtofour]
    if address in TEREDO and address.teredo is not None:
        server, client = address.teredo
        return "Teredo", [client, server]
    if any(address in net for net in NAT64):
        return "NAT64", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why `address` may not be called, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        mechanism, inner = embedded
        for v4 in inner:
            reason = forbidden_reason(v4)
            if reason:
                return reason if mechanism == "IPv4-mapped" else f"a {mechanism} address embedding {v4}, {reason}"
        if mechanism in ("IPv4-mapped", "NAT64", "6to4"):
            return None  # stands for a public IPv4 address (DNS64 networks answer every name this way)
        return f"a {mechanism} address"  # Teredo relays to a client behind NAT: never a crawl target
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


def normalise_host(host: str) -> str:
    """A host as compared by the guard: lower case, no brackets or trailing dot, IDNA (punycode)."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def ip_literal(host: str) -> IPAddress | None:
    """The IP address a host string spells ("[::1]", "10.0.0.1", "fe80::1%eth0"), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class Allowlist:
    """MILAI_NETWORK_ALLOWLIST: networks (any port) and host[:port] entries trusted on private addresses.

    `10.0.0.0/8`, `192.168.1.5`, `fd00::/8`: every address in the network, any port. `intranet.example`,
    `intranet.example:8080`, `127.0.0.1:8081`, `[::1]:8081`: requests to that host name (or IP literal),
    on that port when one is given. A cloud metadata address is trusted only by an entry naming it alone
    (a single-address network or a host entry), never by a wider network.
    """

    networks: tuple[IPNetwork, ...] = ()
    hosts: tuple[tuple[str, int | None], ...] = ()

    @classmethod
    def parse(cls, text: str | Iterable[str] | None) -> Allowlist:
        """Parse comma- (or whitespace-) separated entries; ValueError names every malformed one."""
        if text is None:
            return cls()
        raw = text.replace(",", " ").split() if isinstance(text, str) else [t for t in text if t.strip()]
        networks: list[IPNetwork] = []
        hosts: list[tuple[str, int | None]] = []
        bad: list[str] = []
        for entry in (e.strip() for e in raw):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            parsed = _host_port(entry)
            if parsed is None:
                bad.append(entry)
            else:
                hosts.append(parsed)
        if bad:
            raise ValueError(
                "invalid network allow-list entr" + ("ies " if len(bad) > 1 else "y ") + ", ".join(map(repr, bad))
                + " (expected CIDR networks such as 10.0.0.0/8, or host[:port] such as intranet.example:8080)"
            )
        return cls(tuple(networks), tuple(hosts))

    def __bool__(self) -> bool:
        return bool(self.networks or self.hosts)

    def names(self, host: str, port: int | None) -> bool:
        """True when a host entry names `host` (on `port`, if the entry has one)."""
        host = normalise_host(host)
        return any(h == host and (p is None or p == port) for h, p in self.hosts)

    def permits(self, address: IPAddress, host: str | None = None, port: int | None = None) -> bool:
        """True when the allow-list trusts connecting to `address` (for `host`:`port`); an IPv4-mapped
        IPv6 address is judged as the IPv4 address it is."""
        if host is not None and self.names(host, port):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(ip_literal(h) == address and (p is None or p == port) for h, p in self.hosts):
            return True
        metadata = address in METADATA_ADDRESSES
        for net in self.networks:
            if address.version == net.version and address in net and (not metadata or net.num_addresses == 1):
                return True
        return False


def _host_port(entry: str) -> tuple[str, int | None] | None:
    """(host, port) from `host`, `host:port`, `[v6]:port`; None when malformed."""
    host, port = entry, None
    if entry.startswith("["):
        if "]" not in entry:
            return None
        inner, _, rest = entry[1:].partition("]")
        if ip_literal(inner) is None or (rest and not rest.startswith(":")):
            return None
        host, port_text = inner, rest[1:] if rest else ""
        if rest:
            if not port_text.isdigit():
                return None
            port = int(port_text)
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
        if not port_text.isdigit():
            return None
        port = int(port_text)
    elif ":" in entry:
        return None
    if port is not None and not 0 < port < 65536:
        return None
    host = normalise_host(host)
    labels = host.split(".")
    if not host or not all(label and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label)
                           for label in labels) and ip_literal(host) is None:
        return None
    return host, port


@lru_cache(maxsize=8)
def configured_allowlist(text: str) -> Allowlist:
    """The allow-list `text` (MILAI_NETWORK_ALLOWLIST's value) parsed, cached per text."""
    return Allowlist.parse(text)


@dataclass(frozen=True)
class TargetPolicy:
    """Which webhook and Apprise targets may be called: any address when `allow_private`
    (MILAI_ALLOW_PRIVATE_WEBHOOKS), otherwise public addresses and those `allowlist` trusts."""

    allow_private: bool = False
    allowlist: Allowlist = field(default_factory=Allowlist)


def refusal(
    address: IPAddress,
    host: str,
    port: int | None,
    *,
    allowlist: Allowlist,
    origins: Iterable[tuple[str, int]] = (),
) -> str | None:
    """Why connecting to `address` for `host`:`port` is refused, or None when it is allowed.

    Allowed: a public address; a trusted origin (`origins`: (host, port) of operator-configured source
    URLs, never for a metadata address); or an allow-listed one.
    """
    reason = forbidden_reason(address)
    if reason is None:
        return None
    host = normalise_host(host)
    if port is not None and (host, port) in origins and address not in METADATA_ADDRESSES:
        return None
    if allowlist.permits(address, host, port):
        return None
    return f"{address} is {reason}"


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


def refuse_forbidden(host: str, addresses: list[IPAddress], port: int | None, *, allowlist: Allowlist) -> None:
    """Raise UnsafeTargetError when any of `addresses` is neither public nor allow-listed."""
    for address in addresses:
        why = refusal(address, host, port, allowlist=allowlist)
        if why:
            raise UnsafeTargetError(
                f"refusing webhook target {host}: {why} "
                f"(set MILAI_ALLOW_PRIVATE_WEBHOOKS=true, or {ALLOWLIST_HINT})"
            )


def pin(url: str, policy: TargetPolicy) -> PinnedTarget:
    """Parse and resolve `url` once; unless `policy` allows private targets, every address must be
    public or allow-listed."""
    url = url.strip()
    host, port = parse_target(url)
    host = _ascii_host(host)
    addresses = resolve(host, port)
    if not policy.allow_private:
        refuse_forbidden(host, addresses, port, allowlist=policy.allowlist)
    return PinnedTarget(url, urlsplit(url).scheme, host, port, tuple(addresses))


def check_url(url: str, policy: TargetPolicy) -> None:
    """Raise UnsafeTargetError unless `url` is http(s) and every address of its host is public.

    Used when a subscription is created; with private targets allowed the name need not resolve
    yet. Sending re-checks with `pin`.
    """
    if policy.allow_private:
        parse_target(url)
    else:
        pin(url, policy)


def generic_target_allowed(url: str, policy: TargetPolicy) -> bool:
    """May a client that does its own DNS lookups and follows redirects (Apprise's generic json://,
    xml://, form:// URLs) call `url`? Only when private targets are allowed, or when the allow-list
    names its host (and port), or trusts the IP literal it names: we cannot pin what such a client
    connects to, so an allow-listed name is the operator's word that the target is safe."""
    if policy.allow_private:
        return True
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return False
    if not parts.hostname:
        return False
    scheme = parts.scheme.lower()
    port = port or (443 if scheme.endswith("s") else 80)
    allowlist = policy.allowlist
    address = ip_literal(parts.hostname)
    if address is not None:
        return allowlist.permits(address, parts.hostname, port)
    return allowlist.names(parts.hostname, port)
