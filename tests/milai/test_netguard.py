from __future__ import annotations

import ipaddress

import pytest

from milai.netguard import (
    Allowlist,
    TargetPolicy,
    UnsafeTargetError,
    check_url,
    forbidden_reason,
    generic_target_allowed,
    refusal,
)

STRICT = TargetPolicy()  # MILAI_ALLOW_PRIVATE_WEBHOOKS=false, no allow-list
OPEN = TargetPolicy(allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8000/hook",
        "http://[fd00:ec2::254]/",
        "http://100.64.1.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:9/",
    ],
)
def test_refuses_private_targets(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="refusing"):
        check_url(url, STRICT)


def test_allows_public_and_private_when_enabled() -> None:
    check_url("https://93.184.215.14/hook", STRICT)
    check_url("http://127.0.0.1:9/hook", OPEN)


@pytest.mark.parametrize("url", ["ftp://example.org/", "http:///nohost", "http://u:p@example.org/"])
def test_refuses_malformed(url: str) -> None:
    with pytest.raises(UnsafeTargetError):
        check_url(url, OPEN)


# --- addresses embedded in IPv6 transition forms ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("2002:a00:1::", "6to4 address embedding 10.0.0.1, a private address"),
        ("2002:7f00:1::1", "6to4 address embedding 127.0.0.1, a loopback address"),
        ("64:ff9b::a9fe:a9fe", "NAT64 address embedding 169.254.169.254, a cloud metadata address"),
        ("64:ff9b:1::c0a8:1", "NAT64 address embedding 192.168.0.1, a private address"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo address embedding 192.0.2.45"),
        ("::ffff:10.1.2.3", "a private address"),
        ("::ffff:100.64.0.1", "a carrier-grade NAT address"),
        ("192.0.0.192", "a cloud metadata address"),
    ],
)
def test_private_addresses_hidden_in_ipv6_forms_are_refused(address: str, reason: str) -> None:
    why = forbidden_reason(ipaddress.ip_address(address))
    assert why is not None and reason in why


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808", "::ffff:8.8.8.8", "2606:4700::1111"])
def test_public_addresses_in_ipv6_forms_are_allowed(address: str) -> None:
    """DNS64 networks answer every public name with a 64:ff9b:: address: those must stay reachable."""
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_webhook_targets_in_embedded_forms_are_refused() -> None:
    for url in ("http://[2002:a00:1::]/hook", "http://[64:ff9b::7f00:1]:8080/", "http://[::ffff:7f00:1]/"):
        with pytest.raises(UnsafeTargetError, match="refusing"):
            check_url(url, STRICT)


# --- the allow-list ---------------------------------------------------------------------------------------------

def test_allowlist_parses_networks_and_hosts() -> None:
    allow = Allowlist.parse("10.0.0.0/8, fd00::/8 intranet.example:8080,Wiki.Example [::1]:8443 127.0.0.1:81")
    assert [str(n) for n in allow.networks] == ["10.0.0.0/8", "fd00::/8"]
    assert allow.hosts == (("intranet.example", 8080), ("wiki.example", None), ("::1", 8443), ("127.0.0.1", 81))
    ip = ipaddress.ip_address
    assert allow.permits(ip("10.20.30.40")) and allow.permits(ip("fd12::1"))
    assert allow.permits(ip("192.168.1.1"), "intranet.example", 8080)
    assert not allow.permits(ip("192.168.1.1"), "intranet.example", 8081)  # the entry names a port
    assert allow.permits(ip("172.16.0.1"), "WIKI.example.", 443)  # no port in the entry: any port
    assert allow.permits(ip("127.0.0.1"), "anything", 81) and not allow.permits(ip("127.0.0.1"), "anything", 82)
    assert allow.permits(ip("::ffff:127.0.0.1"), "x", 81)  # an IPv4-mapped address is its IPv4 address
    assert not allow.permits(ip("192.168.0.1"))
    assert Allowlist.parse("") == Allowlist() and not Allowlist.parse(" , ")


@pytest.mark.parametrize("entry", ["http://intranet", "a:b", "999.1.1.1/8", "[::1", "host:99999", "bad_host!:80"])
def test_allowlist_rejects_malformed_entries_by_name(entry: str) -> None:
    with pytest.raises(ValueError, match="invalid network allow-list entr") as info:
        Allowlist.parse(f"10.0.0.0/8, {entry}")
    assert repr(entry) in str(info.value) and "10.0.0.0/8'" not in str(info.value)


def test_metadata_addresses_need_an_entry_of_their_own() -> None:
    metadata = ipaddress.ip_address("169.254.169.254")
    assert not Allowlist.parse("169.254.0.0/16").permits(metadata)
    assert not Allowlist.parse("0.0.0.0/0").permits(metadata)
    assert Allowlist.parse("169.254.0.0/16").permits(ipaddress.ip_address("169.254.1.1"))
    assert Allowlist.parse("169.254.169.254/32").permits(metadata)
    # nor is a metadata address ever a trusted crawl origin
    assert refusal(metadata, "169.254.169.254", 80, allowlist=Allowlist(), origins={("169.254.169.254", 80)})


def test_refusal_trusts_origins_by_host_and_port() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    origins = {("localhost", 8080)}
    assert refusal(loopback, "LocalHost", 8080, allowlist=Allowlist(), origins=origins) is None
    assert "loopback" in (refusal(loopback, "localhost", 8081, allowlist=Allowlist(), origins=origins) or "")
    assert "loopback" in (refusal(loopback, "127.0.0.1", 8080, allowlist=Allowlist(), origins=origins) or "")
    assert refusal(ipaddress.ip_address("93.184.215.14"), "example.org", 443, allowlist=Allowlist()) is None


def test_webhook_check_honours_the_allowlist() -> None:
    from milai.config import Settings

    with pytest.raises(UnsafeTargetError, match="MILAI_NETWORK_ALLOWLIST"):
        check_url("http://127.0.0.1:8123/hook", STRICT)
    policy = Settings(allow_private_webhooks=False, network_allowlist="127.0.0.1:8123, localhost:9000").target_policy
    check_url("http://127.0.0.1:8123/hook", policy)
    check_url("http://localhost:9000/hook", policy)  # by name: whatever it resolves to
    with pytest.raises(UnsafeTargetError, match="loopback"):
        check_url("http://127.0.0.1:8124/hook", policy)
    assert generic_target_allowed("json://127.0.0.1:8123/x", policy)
    assert generic_target_allowed("jsons://localhost:9000/x", policy)
    assert not generic_target_allowed("json://localhost:9001/x", policy)
    assert not generic_target_allowed("json://intranet.example/x", policy)
    assert generic_target_allowed("json://intranet.example/x", OPEN)


def test_ssrf_message_grammar() -> None:
    import ipaddress

    from milai.netguard import forbidden_reason

    assert forbidden_reason(ipaddress.ip_address("0.0.0.0")) == "an unspecified address"
    assert forbidden_reason(ipaddress.ip_address("127.0.0.1")) == "a loopback address"
