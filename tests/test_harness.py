"""The shared harness hands every wait it names to the integration (tests/harness/timings.py)."""

from __future__ import annotations

from dataclasses import asdict, fields

from custom_components.weblink_nguc.timings import DEFAULT_TIMINGS
from tests.harness.timings import Timings


def test_every_wait_reaches_the_integration() -> None:
    """Each field of the harness's `Timings` sets a wait of the integration's."""
    for spec in fields(Timings):
        given = Timings(**{spec.name: 1.5})
        changed = (
            _flat(given.over(DEFAULT_TIMINGS)).items() - _flat(DEFAULT_TIMINGS).items()
        )
        assert changed == {(_name(spec.name), 1.5)}, spec.name


def test_the_rest_as_shipped() -> None:
    """A harness `Timings` of nothing changes nothing."""
    assert Timings().over(DEFAULT_TIMINGS) == DEFAULT_TIMINGS


def _flat(timings: object) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, value in asdict(timings).items():  # type: ignore[call-overload]
        if isinstance(value, dict):
            found.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            found[key] = value
    return found


_RENAMED = {
    "renew_retry_min": "auth.retry_min",
    "renew_retry_base": "auth.retry_base",
    "renew_retry_cap": "auth.retry_cap",
    "min_token_lifetime": "auth.min_lifetime",
    "auth_grace": "stream.auth_grace",
    "backoff_base": "stream.backoff_base",
    "backoff_cap": "stream.backoff_cap",
}


def _name(field: str) -> str:
    return _RENAMED.get(field, field)
