"""URL canonicalisation (w3lib): one spelling per page, tracking parameters dropped."""

from __future__ import annotations

from w3lib.url import canonicalize_url, url_query_cleaner

TRACKING_PARAMS = (
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id", "utm_name",
    "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid", "ref_src",
    "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4", "xtor",
    "sc_campaign", "cmpid", "wt.mc_id", "ns_campaign", "ns_mchannel", "ns_source", "ns_linkname",
)


def canonicalize(url: str) -> str:
    """PLACEHOLDER-grade canonical form; deepened by the sources work."""
    url = url.strip()
    cleaned = url_query_cleaner(url, TRACKING_PARAMS, remove=True, keep_fragments=False)
    canon = canonicalize_url(cleaned, keep_fragments=False)
    if canon.startswith("http://"):
        canon = "https://" + canon[len("http://") :]
    scheme, _, rest = canon.partition("://")
    host, slash, path = rest.partition("/")
    host = host.lower().removeprefix("www.")
    if path.endswith("/") and "?" not in path:
        path = path.rstrip("/")
    return f"{scheme}://{host}{slash}{path}"
