"""URL canonicalisation (w3lib): one spelling per page, tracking parameters and mirrors removed."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import tldextract
from w3lib.url import canonicalize_url

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "_gl",
    "igshid", "ref_src", "xtor", "sc_campaign", "cmpid", "wt.mc_id", "_hsenc", "_hsmi", "mkt_tok",
    "oly_anon_id", "oly_enc_id", "vero_id", "__s", "phpsessid", "jsessionid", "aspsessionid",
})
TRACKING_PREFIXES = ("utm_", "at_", "ns_", "pk_", "mtm_")
DEFAULT_PORTS = {"http": 80, "https": 443}

# Hosts that are one site under two names (the US Department of Defense became the Department of War).
HOST_ALIASES = {"defense.gov": "war.gov"}

_ENCODED_SCHEME = re.compile(r"https?%3a", re.IGNORECASE)
_EMBEDDED = re.compile(r"/(https?):/+(?=[^/])", re.IGNORECASE)
_SESSION_IN_PATH = re.compile(r";(?:jsessionid|phpsessid)=[^/?#]*", re.IGNORECASE)
_DOD_ARTICLE = re.compile(r"^(/.*?/Article/\d+)(?:/.*)?$", re.IGNORECASE)
_UN_NEWS_FEED_VIEW = re.compile(r"^/feed/view/([a-z]{2}(?:-[a-z]+)?/story/.*)$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # Bundled public-suffix snapshot only: no network fetch, no cache directory.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def unwrap_proxy(url: str) -> str:
    """The page a proxy/mirror/archive URL wraps (…/index.cgi/contrast/https://host/…), else the URL."""
    url = url.strip()
    for _ in range(3):  # nested mirrors
        parts = urlsplit(url)
        path = parts.path
        if _ENCODED_SCHEME.search(path):
            path = unquote(path)
        match = _EMBEDDED.search(path)
        if not match:
            return url
        inner = f"{match.group(1).lower()}://{path[match.end():]}"
        if parts.query:
            inner += "?" + parts.query
        netloc = urlsplit(inner).netloc
        if "." not in netloc and not netloc.startswith("localhost"):
            return url
        url = inner
    return url


def is_tracking(key: str) -> bool:
    """True for a query parameter that only tracks the visitor (utm_*, fbclid, …): dropped from canonical URLs."""
    key = key.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _host(netloc: str, scheme: str) -> tuple[str, int | None]:
    hostport = netloc.rpartition("@")[2]
    host, _, port = hostport.partition(":")
    if host.startswith("["):  # IPv6 literal
        host, _, port = hostport.partition("]:")
        host = host.strip("[]")
    number = int(port) if port.isdigit() else None
    if number == DEFAULT_PORTS.get(scheme):
        number = None
    return host.lower().rstrip(".").removeprefix("www."), number


def _site(url: str) -> tuple[SplitResult, str, int | None]:
    """The unwrapped URL's parts, its host (lower case, no www., aliases resolved) and non-default port."""
    parts = urlsplit(unwrap_proxy(url))
    host, port = _host(parts.netloc, parts.scheme.lower() or "https")
    return parts, HOST_ALIASES.get(host, host), port


# A URL is canonicalised several times on its way from a listing to storage (the skip-known filter, the spider,
# the normalise pipeline, the backoff key) and each call costs w3lib's full parse: pure functions of the URL
# string, so they are cached (a crawl's URLs fit; an unparsable URL raises and is not cached).
URL_CACHE_SIZE = 32_768


@lru_cache(maxsize=URL_CACHE_SIZE)
def canonicalize(url: str) -> str:
    """One canonical spelling per page: https, no www., no default port, no tracking, sorted query."""
    parts, host, port = _site(url)
    path = _SESSION_IN_PATH.sub("", parts.path)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking(k)])

    if host == "war.gov" and (m := _DOD_ARTICLE.match(path)):
        path, query = m.group(1).lower(), ""
    elif host == "news.un.org" and (m := _UN_NEWS_FEED_VIEW.match(path)):
        path = "/" + m.group(1)

    bracketed = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    netloc = bracketed if port is None else f"{bracketed}:{port}"
    canon = canonicalize_url(urlunsplit(("https", netloc, path or "/", query, "")), keep_fragments=False)
    scheme_host, _, rest = canon.partition("://")
    hostpart, slash, tail = rest.partition("/")
    path_part, qmark, q = tail.partition("?")
    path_part = path_part.rstrip("/")
    return f"https://{hostpart}/{path_part}{qmark}{q}" if path_part or q else f"https://{hostpart}"


def clean_url(url: str) -> str:
    """The URL to show users: the same scheme, host, port and path (a working address), without tracking
    parameters or fragment. Unlike `canonicalize`, no https/www rewriting: this is not a dedup key."""
    parts = urlsplit(url.strip())
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in pairs if not is_tracking(k)]
    kept = urlencode(query) if len(query) != len(pairs) else parts.query
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", kept, ""))


@lru_cache(maxsize=URL_CACHE_SIZE)
def site_key(url: str) -> str:
    """The registrable domain of a URL (host:port for IP addresses and single-label hosts)."""
    _, host, port = _site(url)
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip or "." not in host:
        return host if port is None else f"{host}:{port}"
    registrable = _extractor()(host).top_domain_under_public_suffix
    return registrable or host


def same_site(a: str, b: str) -> bool:
    """True when both URLs belong to one registrable domain (news.un.org ~ www.un.org; gov.uk per host)."""
    if not a or not b:
        return False
    return site_key(a) == site_key(b)
