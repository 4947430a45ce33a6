"""The shared harness: every wait it names reaches the integration; convergence follows the options."""

from __future__ import annotations

from dataclasses import asdict, fields

from custom_components.weblink_nguc.timings import DEFAULT_TIMINGS
from tests.harness.convergence import Followed, _expected_devices
from tests.harness.timings import Timings
from tests.simulator import demo_company


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


def test_convergence_expects_only_what_is_followed() -> None:
    """A user chosen brings their phones; queues not chosen are not expected."""
    company = demo_company()
    user_id = next(iter(company.users))
    queue_id = next(iter(company.queues))
    everyone = _expected_devices(company)
    assert len(everyone) == len(company.users) + len(company.devices) + len(
        company.queues
    )
    chosen = _expected_devices(company, Followed([user_id], [queue_id]))
    phones = {
        ("device", phone.id)
        for phone in company.devices.values()
        if phone.pbx_user_id == user_id
    }
    assert set(chosen) == {("user", user_id), ("queue", queue_id)} | phones
    # A choice of users only: every queue is still followed.
    assert {
        key
        for key in _expected_devices(company, Followed([user_id]))
        if key[0] == "queue"
    } == {("queue", queue) for queue in company.queues}
    assert Followed.of({"users": [user_id]}).user(user_id)
    assert not Followed.of({"users": [user_id]}).user("nobody")
    assert Followed.of({}).phone(None)
    assert not Followed.of({"users": [user_id]}).phone(None)
