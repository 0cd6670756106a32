"""Settings: the secret key is generated once with 0600 permissions and kept; stored
credentials stay readable across restarts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from crmsync.crypto import decrypt_json, encrypt_json
from crmsync.settings import Settings, get_settings, reset_settings_cache


def test_secret_key_generated_once_with_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMSYNC_SECRET_KEY", raising=False)
    monkeypatch.setenv("CRMSYNC_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    try:
        key = get_settings().resolved_secret_key()
        key_file = tmp_path / ".crmsync_secret_key"
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        token = encrypt_json({"access_token": "abc"})
        reset_settings_cache()  # a restart reads the same key back
        assert get_settings().resolved_secret_key() == key
        assert decrypt_json(token) == {"access_token": "abc"}
    finally:
        reset_settings_cache()


def test_explicit_secret_key_wins_and_no_file_is_written(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=")
    assert settings.resolved_secret_key() == "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY="
    assert not (tmp_path / ".crmsync_secret_key").exists()


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="")
    assert settings.resolved_database_url() == f"sqlite:///{(tmp_path / 'crmsync.db').as_posix()}"
