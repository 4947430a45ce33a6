"""The config flow, against the NGUC simulator: login, 2FA, reauth, reconfigure."""

from __future__ import annotations

from collections.abc import Generator, Mapping
import json
from pathlib import Path
import socket
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.weblink_nguc
from custom_components.weblink_nguc.api import DEFAULT_API_URL, DEFAULT_EVENTS_URL
from custom_components.weblink_nguc.const import DOMAIN
from tests.simulator import Simulator
from tests.simulator.model import Account, Company

# An entry is its company; the demo company 4711 has the accounts "demo"
# (user 86480, no two-factor) and "secure" (user 86481, two-factor).
UNIQUE_ID = "4711"
USER_IDS = {"demo": "86480", "secure": "86481"}
# Replaced in the test by a loopback port that nothing listens on.
DEAD = "dead"


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Stand in for the runtime: setting up and unloading an entry succeed."""
    with (
        patch(
            "custom_components.weblink_nguc.async_setup_entry", return_value=True
        ) as mock_setup,
        patch("custom_components.weblink_nguc.async_unload_entry", return_value=True),
    ):
        yield mock_setup


def credentials(
    simulator: Simulator,
    *,
    company: str = "demo",
    username: str = "demo",
    password: str = "demo",  # noqa: S107 (the simulator's demo account)
    api_url: str | None = None,
    events_url: str | None = None,
) -> dict[str, Any]:
    """Return the user/reconfigure form's input, aimed at the simulator."""
    return {
        "company": company,
        "username": username,
        "password": password,
        "advanced": {
            "api_url": simulator.api_url if api_url is None else api_url,
            "events_url": simulator.events_url if events_url is None else events_url,
        },
    }


def schema_of(result: ConfigFlowResult) -> dict[Any, Any]:
    """Return a form's schema as its mapping of markers to validators."""
    data_schema = result["data_schema"]
    assert data_schema is not None
    return dict(data_schema.schema)


def suggested_values(result: ConfigFlowResult) -> dict[str, Any]:
    """Return the suggested values a form was shown with, sections nested."""

    def collect(schema: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in schema.schema.items():
            if isinstance(value, section):
                values[str(key)] = collect(value.schema)
            elif key.description and "suggested_value" in key.description:
                values[str(key)] = key.description["suggested_value"]
        return values

    data_schema = result["data_schema"]
    assert data_schema is not None
    return collect(data_schema)


def entry_for(
    simulator: Simulator,
    *,
    username: str = "demo",
    unique_id: str = UNIQUE_ID,
    user_id: str | None = None,
    **extra: Any,
) -> MockConfigEntry:
    """Return a config entry as the flow would have created it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"demo ({username})",
        unique_id=unique_id,
        minor_version=2,
        data={
            "company": "demo",
            "username": username,
            "user_id": user_id or USER_IDS[username],
            "api_url": simulator.api_url,
            "events_url": simulator.events_url,
            "token": {
                "access_token": "old-access",
                "refresh_token": "old-refresh",
                "expires_at": 0.0,
                "lifetime": 3600.0,
            },
        }
        | extra,
    )


async def reauth_with(
    hass: HomeAssistant, entry: MockConfigEntry, password: str
) -> ConfigFlowResult:
    """Start the entry's reauthentication and enter ``password``."""
    result = await entry.start_reauth_flow(hass)
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": password}
    )


def unused_loopback_port() -> int:
    """Return a loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result


def assert_new_token(data: Mapping[str, Any]) -> None:
    token = data["token"]
    assert token["access_token"]
    assert token["access_token"] != "old-access"
    assert token["refresh_token"]
    assert token["refresh_token"] != "old-refresh"
    assert token["expires_at"] > 0


# --- user step ---------------------------------------------------------------------


async def test_user_flow_without_two_factor(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """An account without 2FA is created in one step and keeps its password."""
    result = await start_user_flow(hass)
    schema_keys = {str(key) for key in schema_of(result)}
    assert schema_keys == {"company", "username", "password", "advanced"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator)
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "demo (Anna Lindqvist)"
    assert result["result"].unique_id == UNIQUE_ID
    data = result["data"]
    assert data["company"] == "demo"
    assert data["username"] == "demo"
    assert data["user_id"] == "86480"
    assert data["password"] == "demo"
    assert data["api_url"] == simulator.api_url
    assert data["events_url"] == simulator.events_url
    assert set(data) == {
        "company",
        "username",
        "user_id",
        "password",
        "api_url",
        "events_url",
        "token",
    }
    assert_new_token(data)
    assert len(mock_setup_entry.mock_calls) == 1


async def test_user_flow_defaults_and_cleanup(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """The advanced section defaults to NGUC's servers; input is tidied."""
    result = await start_user_flow(hass)
    advanced = schema_of(result)["advanced"]
    assert isinstance(advanced, section)
    assert advanced.options == {"collapsed": True}
    assert advanced.schema({}) == {
        "api_url": DEFAULT_API_URL,
        "events_url": DEFAULT_EVENTS_URL,
    }

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        credentials(
            simulator,
            company=" demo ",
            username=" demo",
            api_url=f" {simulator.api_url}/ ",
            events_url=f"{simulator.events_url}/",
        ),
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["company"] == "demo"
    assert result["data"]["username"] == "demo"
    assert result["data"]["api_url"] == simulator.api_url
    assert result["data"]["events_url"] == simulator.events_url


async def test_user_flow_two_factor(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """An account with 2FA asks for the code and never stores the password."""
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="secure")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "two_factor"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {"username": "secure"}

    # Grouped as an authenticator app shows it.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": " 123 456 "}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "demo (Erik Johansson)"
    assert result["result"].unique_id == UNIQUE_ID
    data = result["data"]
    assert "password" not in data
    assert data["username"] == "secure"
    assert data["user_id"] == "86481"
    assert_new_token(data)
    assert len(mock_setup_entry.mock_calls) == 1


async def test_user_flow_invalid_two_factor_then_recovers(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A wrong code keeps the flow on the code step until the right one."""
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="secure")
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "000000"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "two_factor"
    assert result["errors"] == {"base": "invalid_two_factor"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "password" not in result["data"]


async def test_two_factor_step_cannot_connect_then_recovers(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A network failure at the code step lets the code be sent again."""
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="secure")
    )
    simulator.fail_rest(503)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "two_factor"
    assert result["errors"] == {"base": "cannot_connect"}

    simulator.clear_faults()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"password": "wrong"}, "invalid_auth"),
        ({"username": "nobody"}, "invalid_auth"),
        ({"company": "other"}, "invalid_auth"),
        ({"api_url": "ftp://127.0.0.1"}, "invalid_url"),
        ({"api_url": "https://"}, "invalid_url"),
        ({"api_url": "not a url"}, "invalid_url"),
        ({"api_url": "http://[::1"}, "invalid_url"),
        ({"api_url": "http://127.0.0.1:99999"}, "invalid_url"),
        ({"events_url": "https://127.0.0.1/events"}, "invalid_url"),
        ({"events_url": "wss://"}, "invalid_url"),
        ({"api_url": DEAD}, "cannot_connect"),
    ],
)
async def test_user_flow_error_then_recovers(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    change: dict[str, str],
    error: str,
) -> None:
    """Each error re-shows the form with the input kept; fixing it succeeds."""
    if change.get("api_url") == DEAD:
        change = {"api_url": f"http://127.0.0.1:{unused_loopback_port()}"}
    result = await start_user_flow(hass)
    bad = credentials(simulator, **change)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": error}
    assert suggested_values(result) == bad

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["password"] == "demo"
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.parametrize("status", [500, 429])
async def test_user_flow_server_error_then_recovers(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    status: int,
) -> None:
    """A failing server is cannot_connect; once it answers, the flow finishes."""
    result = await start_user_flow(hass)
    simulator.fail_rest(status)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}

    simulator.clear_faults()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_unknown_error_then_recovers(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception is `unknown`, logged, and never leaks the password."""
    result = await start_user_flow(hass)
    with patch(
        "custom_components.weblink_nguc.config_flow.NgucClient.login",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(simulator, password="s3cret-pw")
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while logging in to NGUC" in caplog.text
    assert "s3cret-pw" not in caplog.text

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_unreadable_me_is_unknown(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A /user/me answer the client cannot read is `unknown`, not a crash."""
    result = await start_user_flow(hass)
    with patch.object(simulator.company, "me", return_value={"name": "no id"}):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(simulator)
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}


async def test_user_flow_already_configured(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """The same account cannot be added twice, whatever the company's spelling."""
    entry_for(simulator, password="demo").add_to_hass(hass)

    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, company="DEMO")
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(mock_setup_entry.mock_calls) == 0


async def test_user_flow_second_account_of_company(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """Another account of a company already configured is not added: it would
    duplicate every device, since each account sees the whole company."""
    entry_for(simulator, password="demo").add_to_hass(hass)

    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="secure")
    )
    assert result["step_id"] == "two_factor"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    assert len(mock_setup_entry.mock_calls) == 0


async def test_user_flow_company_by_name_already_configured(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """Without a company id, the company's name (any case, any spaces) is the company."""
    entry_for(simulator, unique_id="demo", password="demo").add_to_hass(hass)
    me = {"id": "86481", "username": "secure"}
    with patch.object(simulator.company, "me", return_value=me):
        result = await start_user_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            credentials(
                simulator, company=" DEMO ", username="secure", password="secure"
            ),
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"code": "123456"}
        )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_user_flow_company_without_id(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """Without a company id or names from NGUC, the input makes id and title."""
    me = {"id": "86480", "username": "demo"}
    with patch.object(simulator.company, "me", return_value=me):
        result = await start_user_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(simulator, company="Demo")
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The name as NGUC compares it: "Demo" and "DEMO" are one company.
    assert result["result"].unique_id == "demo"
    assert result["title"] == "Demo (demo)"


# --- two-factor step: the password refused after all ----------------------------------


async def test_two_factor_invalid_auth_returns_to_user_form(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A password changed meanwhile sends the user back to the form that has it."""
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="secure")
    )
    assert result["step_id"] == "two_factor"
    simulator.company.accounts["secure"].password = "changed"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "invalid_auth"}
    assert suggested_values(result) == credentials(
        simulator, username="secure", password="secure"
    )

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="changed")
    )
    assert result["step_id"] == "two_factor"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "password" not in result["data"]


# --- reauthentication --------------------------------------------------------------


async def test_reauth_without_two_factor(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """Reauth asks for the password, recovers from a wrong one, stores the new."""
    entry = entry_for(simulator, password="old-password")
    entry.add_to_hass(hass)

    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["username"] == "demo"
    assert placeholders["company"] == "demo"
    assert {str(key) for key in schema_of(result)} == {"password"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": "invalid_auth"}
    assert suggested_values(result) == {"password": "wrong"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "demo"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == "demo"
    assert entry.data["username"] == "demo"
    assert entry.data["api_url"] == simulator.api_url
    assert_new_token(entry.data)
    assert len(mock_setup_entry.mock_calls) == 1


async def test_reauth_blank_password(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """An empty password is named as such, and not sent."""
    entry = entry_for(simulator, password="old-password")
    entry.add_to_hass(hass)

    result = await reauth_with(hass, entry, " ")

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"password": "blank"}
    assert simulator.oauth_grants == []


async def test_reauth_with_two_factor_drops_password(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """An account that now uses 2FA gets a new token and loses its stored password."""
    entry = entry_for(simulator, username="secure", password="secure")
    entry.add_to_hass(hass)

    result = await reauth_with(hass, entry, "secure")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "two_factor"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "111111"}
    )
    assert result["errors"] == {"base": "invalid_two_factor"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert "password" not in entry.data
    assert_new_token(entry.data)


async def test_reauth_cannot_connect_then_recovers(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A server failure during reauth is shown on the password form."""
    entry = entry_for(simulator, password="demo")
    entry.add_to_hass(hass)

    result = await entry.start_reauth_flow(hass)
    simulator.fail_rest(500)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "demo"}
    )
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": "cannot_connect"}

    simulator.clear_faults()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "demo"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"


@pytest.mark.parametrize(
    ("unique_id", "user_id"),
    [
        ("4711", "99999"),  # another user of the same company
        ("4712", "86480"),  # another company
        ("4711_99999", "99999"),  # an entry of before 1.2, another user
    ],
)
async def test_reauth_wrong_account(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    unique_id: str,
    user_id: str,
) -> None:
    """Credentials of another account do not change the entry."""
    entry = entry_for(simulator, unique_id=unique_id, user_id=user_id, password="x")
    entry.add_to_hass(hass)
    before = dict(entry.data)

    result = await reauth_with(hass, entry, "demo")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert dict(entry.data) == before
    assert len(mock_setup_entry.mock_calls) == 0


async def test_reauth_of_entry_known_by_company_name(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """An entry made while /user/me gave no company id reauths, and keeps its id.

    Its devices' and entities' ids are made of it: changing it would give the
    entry a second set of each.
    """
    entry = entry_for(simulator, unique_id="demo", password="old")
    entry.add_to_hass(hass)

    result = await reauth_with(hass, entry, "demo")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == "demo"
    assert entry.unique_id == "demo"


async def test_reauth_while_me_gives_no_company_id(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the (assumed) company id, the company's name and the user decide."""
    entry = entry_for(simulator, password="old")
    entry.add_to_hass(hass)
    me = Company.me

    def me_without_company_id(company: Company, account: Account) -> dict[str, Any]:
        body = me(company, account)
        del body["company_id"]
        return body

    monkeypatch.setattr(Company, "me", me_without_company_id)

    result = await reauth_with(hass, entry, "demo")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == "demo"
    assert entry.unique_id == UNIQUE_ID


async def test_reauth_of_second_entry_of_company(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A company's second entry, kept by the migration under its old id, reauths."""
    entry_for(simulator, username="secure").add_to_hass(hass)
    entry = entry_for(simulator, unique_id="4711_86480", password="old")
    entry.add_to_hass(hass)

    result = await reauth_with(hass, entry, "demo")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == "demo"
    assert entry.unique_id == "4711_86480"


async def test_reauth_two_factor_invalid_auth_returns_to_password_form(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A password refused at the code step is asked for again on reauth's form."""
    entry = entry_for(simulator, username="secure")
    entry.add_to_hass(hass)

    result = await reauth_with(hass, entry, "secure")
    assert result["step_id"] == "two_factor"
    simulator.company.accounts["secure"].password = "changed"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": "invalid_auth"}
    assert suggested_values(result) == {"password": "secure"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"password": "changed"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert "password" not in entry.data


# --- reconfiguration ---------------------------------------------------------------


async def test_reconfigure_new_servers(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """Reconfigure shows the entry's settings and stores the new servers."""
    dead = f"http://127.0.0.1:{unused_loopback_port()}"
    entry = entry_for(
        simulator,
        password="demo",
        api_url=dead,
        events_url="ws://127.0.0.1:1/events",
    )
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert suggested_values(result) == {
        "company": "demo",
        "username": "demo",
        "advanced": {"api_url": dead, "events_url": "ws://127.0.0.1:1/events"},
    }

    # Submitted unchanged (with the password) the old server cannot be reached.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        credentials(simulator, api_url=dead, events_url="ws://127.0.0.1:1/events"),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "cannot_connect"}
    assert suggested_values(result)["advanced"]["api_url"] == dead

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator)
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["api_url"] == simulator.api_url
    assert entry.data["events_url"] == simulator.events_url
    assert entry.data["password"] == "demo"
    assert_new_token(entry.data)
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"password": "wrong"}, "invalid_auth"),
        ({"events_url": "http://127.0.0.1/events"}, "invalid_url"),
    ],
)
async def test_reconfigure_error_then_recovers(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    change: dict[str, str],
    error: str,
) -> None:
    """Errors on reconfigure keep the input and can be corrected."""
    entry = entry_for(simulator, password="demo")
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    bad = credentials(simulator, **change)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": error}
    assert suggested_values(result) == bad

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_wrong_account(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """Reconfigure cannot switch the entry to another account."""
    entry = entry_for(simulator, password="demo")
    entry.add_to_hass(hass)
    before = dict(entry.data)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="secure")
    )
    assert result["step_id"] == "two_factor"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert dict(entry.data) == before
    assert len(mock_setup_entry.mock_calls) == 0


async def test_reconfigure_two_factor_account(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A 2FA account is reconfigured through the code step, without a password."""
    entry = entry_for(simulator, username="secure", password="stale")
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="secure")
    )
    assert result["step_id"] == "two_factor"
    simulator.company.accounts["secure"].password = "changed"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    # The password changed meanwhile: back to the reconfigure form.
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "invalid_auth"}
    assert suggested_values(result) == credentials(
        simulator, username="secure", password="secure"
    )

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(simulator, username="secure", password="changed")
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert "password" not in entry.data
    assert entry.data["username"] == "secure"
    assert_new_token(entry.data)


# --- translations ------------------------------------------------------------------


def _leaf_paths(tree: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        paths |= _leaf_paths(value, path) if isinstance(value, dict) else {path}
    return paths


def test_translations_and_icons_complete() -> None:
    """Both languages carry every string the flow can show; icons match entities."""
    package = Path(custom_components.weblink_nguc.__file__).parent
    english = json.loads((package / "translations" / "en.json").read_text("utf-8"))
    swedish = json.loads((package / "translations" / "sv.json").read_text("utf-8"))
    icons = json.loads((package / "icons.json").read_text("utf-8"))

    assert _leaf_paths(english) == _leaf_paths(swedish)
    config = english["config"]
    assert set(config["step"]) == {
        "user",
        "two_factor",
        "reauth_confirm",
        "reconfigure",
    }
    assert set(config["error"]) == {
        "blank",
        "invalid_auth",
        "invalid_two_factor",
        "cannot_connect",
        "invalid_url",
        "unknown",
    }
    assert set(config["abort"]) >= {"already_configured", "wrong_account"}
    for step in ("user", "reconfigure"):
        assert set(config["step"][step]["data_description"]) == {
            "company",
            "username",
            "password",
        }
        advanced = config["step"][step]["sections"]["advanced"]
        assert set(advanced["data_description"]) == {"api_url", "events_url"}
    for platform, entities in english["entity"].items():
        assert set(icons["entity"][platform]) == set(entities)
        for key, icon in icons["entity"][platform].items():
            assert icon["default"].startswith("mdi:"), key
