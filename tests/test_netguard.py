from __future__ import annotations

import pytest

from milai.netguard import UnsafeTargetError, check_url


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
        check_url(url, allow_private=False)


def test_allows_public_and_private_when_enabled() -> None:
    check_url("https://93.184.215.14/hook", allow_private=False)
    check_url("http://127.0.0.1:9/hook", allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.org/", "http:///nohost", "http://u:p@example.org/"])
def test_refuses_malformed(url: str) -> None:
    with pytest.raises(UnsafeTargetError):
        check_url(url, allow_private=True)
