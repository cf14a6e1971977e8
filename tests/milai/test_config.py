"""MILAI_* settings: defaults, validation, and a clear error (not a traceback) for invalid values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from milai.config import Settings, describe_errors


def test_defaults_are_valid_and_sqlite_lives_in_the_data_dir(tmp_path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'milai.sqlite3'}"
    assert s.digest_check_minutes >= 1 and s.download_maxsize == 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("field", "value"),
    [("digest_check_minutes", -1), ("digest_check_minutes", 0), ("port", 70000), ("download_delay", -0.5),
     ("log_level", "loud"), ("default_schedule", "every hour"), ("base_url", "ftp://x"), ("download_timeout", 0)],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**{field: value})
    assert f"MILAI_{field.upper()}" in describe_errors(info.value)


def test_cli_reports_invalid_settings_by_variable_name(tmp_path) -> None:
    env = {**os.environ, "MILAI_DIGEST_CHECK_MINUTES": "-1", "MILAI_PORT": "abc", "MILAI_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "milai", "sources", "list"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "MILAI_DIGEST_CHECK_MINUTES" in proc.stderr and "MILAI_PORT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_network_allowlist_is_validated_and_normalised() -> None:
    assert Settings(network_allowlist=" 10.0.0.0/8  intranet.example:8080,").network_allowlist == \
        "10.0.0.0/8,intranet.example:8080"
    with pytest.raises(ValidationError) as info:
        Settings(network_allowlist="10.0.0.0/8, http://intranet")
    message = describe_errors(info.value)
    assert "MILAI_NETWORK_ALLOWLIST" in message and "'http://intranet'" in message


def test_the_target_policy_carries_the_private_setting_and_the_parsed_allowlist() -> None:
    import ipaddress

    from milai.netguard import TargetPolicy

    strict = Settings(allow_private_webhooks=False, network_allowlist="").target_policy
    assert strict == TargetPolicy() and not strict.allowlist
    policy = Settings(allow_private_webhooks=True, network_allowlist="10.0.0.0/8 intranet.example:8080").target_policy
    assert policy.allow_private
    assert policy.allowlist.permits(ipaddress.ip_address("10.1.2.3"))
    assert policy.allowlist.names("intranet.example", 8080) and not policy.allowlist.names("intranet.example", 80)


def test_settings_are_read_fresh_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """No process-wide cached copy: each edge's `Settings()` sees the environment as it is then."""
    monkeypatch.setenv("MILAI_WEBHOOK_TIMEOUT", "3")
    assert Settings().webhook_timeout == 3
    monkeypatch.setenv("MILAI_WEBHOOK_TIMEOUT", "4")
    assert Settings().webhook_timeout == 4


def test_item_caps_have_sane_bounds() -> None:
    s = Settings()
    assert (s.max_text_chars, s.max_title_chars, s.max_html_bytes) == (200_000, 1_000, 2 * 1024 * 1024)
    for field, value in (("max_text_chars", 10), ("max_title_chars", 0), ("max_html_bytes", 100)):
        with pytest.raises(ValidationError):
            Settings(**{field: value})


def test_database_timeout_bounds_connect_and_lock_waits_on_both_dialects(milai_env: dict[str, str],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import text

    from milai.config import Settings
    from storage.database import dispose_engines, engine_of

    monkeypatch.setenv("MILAI_DATABASE_TIMEOUT", "3.5")
    engine = engine_of(Settings())  # its own engine: one per URL and timeout (no engine cache to reset first)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 3500
        else:
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "3500ms"
            assert conn.connection.dbapi_connection.info.get_parameters()["connect_timeout"] == "4"
    dispose_engines()
    with pytest.raises(ValidationError, match="database_timeout"):
        Settings(database_timeout=0)
