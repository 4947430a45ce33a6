"""Fixtures of the client's tests."""

from __future__ import annotations

import pytest

from custom_components.weblink_nguc.api import auth


@pytest.fixture
def short_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let tokens live as briefly as the server says (the floor is a minute)."""
    monkeypatch.setattr(auth, "MIN_LIFETIME", 0.5)


@pytest.fixture
def fast_token_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry a failed token renewal after hundredths of a second, not seconds."""
    monkeypatch.setattr(auth, "RENEW_RETRY_MIN", 0.01)
    monkeypatch.setattr(auth, "RENEW_RETRY_BASE", 0.02)
    monkeypatch.setattr(auth, "RENEW_RETRY_CAP", 0.05)
