"""Config flow for Weblink NGUC: log in, with an optional two-factor step.

The same login routine serves the user, reauthentication and reconfiguration
steps (the options, whom to follow, are in options_flow.py). A password is
stored only for an account without two-factor authentication: for such an
account the integration may log in again by itself, while an account with
two-factor authentication relies on its refresh token and, once that lapses,
on reauthentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
from typing import Any, override

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol
from yarl import URL

from . import migrate
from .api import (
    DEFAULT_API_URL,
    DEFAULT_EVENTS_URL,
    Me,
    NgucAuthError,
    NgucClient,
    NgucConnectionError,
    NgucTwoFactorError,
    TokenSet,
)
from .const import (
    CONF_ADVANCED,
    CONF_API_URL,
    CONF_CODE,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_TOKEN,
    CONF_USER_ID,
    DOMAIN,
)
from .migrate import company_unique_id, legacy_unique_id
from .options_flow import NgucOptionsFlow

_LOGGER = logging.getLogger(__name__)

API_SCHEMES = frozenset({"http", "https"})
EVENTS_SCHEMES = frozenset({"ws", "wss"})

_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))

STEP_CREDENTIALS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_COMPANY): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="organization")
        ),
        vol.Required(CONF_USERNAME): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
        ),
        vol.Required(CONF_PASSWORD): TextSelector(
            TextSelectorConfig(
                type=TextSelectorType.PASSWORD, autocomplete="current-password"
            )
        ),
        vol.Required(CONF_ADVANCED): section(
            vol.Schema(
                {
                    vol.Required(CONF_API_URL, default=DEFAULT_API_URL): _URL_SELECTOR,
                    vol.Required(
                        CONF_EVENTS_URL, default=DEFAULT_EVENTS_URL
                    ): _URL_SELECTOR,
                }
            ),
            {"collapsed": True},
        ),
    }
)

STEP_REAUTH_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PASSWORD): TextSelector(
            TextSelectorConfig(
                type=TextSelectorType.PASSWORD, autocomplete="current-password"
            )
        ),
    }
)

STEP_TWO_FACTOR_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_CODE): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="one-time-code")
        ),
    }
)


@dataclass(frozen=True, slots=True)
class _Credentials:
    """What one login attempt needs, as entered in a form."""

    company: str
    username: str
    password: str = field(repr=False)
    api_url: str
    events_url: str

    @classmethod
    def from_form(cls, user_input: Mapping[str, Any]) -> _Credentials:
        """Read the user or reconfigure form, tolerating stray whitespace."""
        advanced: Mapping[str, Any] = user_input.get(CONF_ADVANCED, {})
        return cls(
            company=str(user_input[CONF_COMPANY]).strip(),
            username=str(user_input[CONF_USERNAME]).strip(),
            password=str(user_input[CONF_PASSWORD]),
            api_url=_clean_url(advanced.get(CONF_API_URL, DEFAULT_API_URL)),
            events_url=_clean_url(advanced.get(CONF_EVENTS_URL, DEFAULT_EVENTS_URL)),
        )

    @classmethod
    def from_entry(cls, data: Mapping[str, Any], password: str) -> _Credentials:
        """Combine a config entry's account with a newly entered password."""
        return cls(
            company=data[CONF_COMPANY],
            username=data[CONF_USERNAME],
            password=password,
            api_url=data.get(CONF_API_URL, DEFAULT_API_URL),
            events_url=data.get(CONF_EVENTS_URL, DEFAULT_EVENTS_URL),
        )

    def blank_field(self) -> str | None:
        """Return the first field left blank (spaces only), None if none is."""
        for name, value in (
            (CONF_COMPANY, self.company),
            (CONF_USERNAME, self.username),
            (CONF_PASSWORD, self.password),
        ):
            if not value.strip():
                return name
        return None

    def urls_valid(self) -> bool:
        """Return whether both URLs have the right scheme and a host."""
        return _url_valid(self.api_url, API_SCHEMES) and _url_valid(
            self.events_url, EVENTS_SCHEMES
        )

    def form_values(self) -> dict[str, Any]:
        """Return the values to put back into a form after an error."""
        return {
            CONF_COMPANY: self.company,
            CONF_USERNAME: self.username,
            CONF_PASSWORD: self.password,
            CONF_ADVANCED: {
                CONF_API_URL: self.api_url,
                CONF_EVENTS_URL: self.events_url,
            },
        }

    def entry_data(
        self, tokens: TokenSet, me: Me, *, two_factor: bool
    ) -> dict[str, Any]:
        """Return the config entry data for a successful login."""
        data: dict[str, Any] = {
            CONF_COMPANY: self.company,
            CONF_USERNAME: self.username,
            CONF_USER_ID: me.id,
            CONF_API_URL: self.api_url,
            CONF_EVENTS_URL: self.events_url,
            CONF_TOKEN: tokens.as_dict(),
        }
        if not two_factor:
            data[CONF_PASSWORD] = self.password
        return data


def _clean_url(value: Any) -> str:
    return str(value).strip().rstrip("/")


def _url_valid(value: str, schemes: frozenset[str]) -> bool:
    if any(char.isspace() for char in value):
        return False
    try:
        url = URL(value)
    except ValueError:
        return False
    return url.scheme in schemes and bool(url.host)


def _entry_form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a config entry's settings as form values (never its password)."""
    return {
        CONF_COMPANY: data.get(CONF_COMPANY),
        CONF_USERNAME: data.get(CONF_USERNAME),
        CONF_ADVANCED: {
            CONF_API_URL: data.get(CONF_API_URL, DEFAULT_API_URL),
            CONF_EVENTS_URL: data.get(CONF_EVENTS_URL, DEFAULT_EVENTS_URL),
        },
    }


class NgucConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for Weblink NGUC: one entry per company."""

    VERSION = migrate.VERSION
    MINOR_VERSION = migrate.MINOR_VERSION

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> NgucOptionsFlow:
        """Return the options flow: whom to follow."""
        return NgucOptionsFlow()

    # Set by _async_start_login before the two-factor step can be reached.
    _credentials: _Credentials
    _client: NgucClient

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the company, the account and, if needed, other servers."""
        errors: dict[str, str] = {}
        if user_input is not None:
            credentials = _Credentials.from_form(user_input)
            if (
                result := await self._async_start_login(credentials, errors)
            ) is not None:
                return result
        return self._async_show_credentials_form("user", user_input, errors)

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start reauthentication after NGUC refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the password of the account already configured."""
        errors: dict[str, str] = {}
        if user_input is not None:
            credentials = _Credentials.from_entry(
                self._get_reauth_entry().data, str(user_input[CONF_PASSWORD])
            )
            if (
                result := await self._async_start_login(credentials, errors)
            ) is not None:
                return result
        return self._async_show_credentials_form("reauth_confirm", user_input, errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the account's settings, such as the server addresses."""
        errors: dict[str, str] = {}
        if user_input is not None:
            credentials = _Credentials.from_form(user_input)
            if (
                result := await self._async_start_login(credentials, errors)
            ) is not None:
                return result
        return self._async_show_credentials_form(
            "reconfigure",
            user_input
            if user_input is not None
            else _entry_form_values(self._get_reconfigure_entry().data),
            errors,
        )

    async def async_step_two_factor(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the two-factor code of the account being logged in."""
        errors: dict[str, str] = {}
        if user_input is not None:
            # Codes are often typed or pasted in groups, as "123 456".
            code = "".join(str(user_input[CONF_CODE]).split())
            if (result := await self._async_login(errors, code=code)) is not None:
                return result
            if errors.get("base") == "invalid_auth":
                # The password itself was refused (changed meanwhile): only
                # the form it was entered in can correct it.
                return self._async_show_credentials_form(
                    self._credentials_step_id(),
                    self._credentials.form_values(),
                    errors,
                )
        return self.async_show_form(
            step_id="two_factor",
            data_schema=STEP_TWO_FACTOR_SCHEMA,
            errors=errors,
            description_placeholders={CONF_USERNAME: self._credentials.username},
        )

    async def _async_start_login(
        self, credentials: _Credentials, errors: dict[str, str]
    ) -> ConfigFlowResult | None:
        """Log in without a code; on failure fill in ``errors``, return None."""
        if (blank := credentials.blank_field()) is not None:
            errors[blank] = "blank"
            return None
        if not credentials.urls_valid():
            errors["base"] = "invalid_url"
            return None
        self._credentials = credentials
        self._client = NgucClient(
            async_get_clientsession(self.hass),
            company=credentials.company,
            username=credentials.username,
            password=credentials.password,
            api_url=credentials.api_url,
            events_url=credentials.events_url,
        )
        return await self._async_login(errors, code=None)

    async def _async_login(
        self, errors: dict[str, str], *, code: str | None
    ) -> ConfigFlowResult | None:
        """Log in (``code`` None: first attempt, without a two-factor code).

        Returns the flow's next result, or None with ``errors`` filled in.
        """
        try:
            tokens = await self._client.login(code or "")
            me = await self._client.get_me()
        except NgucTwoFactorError as err:
            if code is None:
                return await self.async_step_two_factor()
            _LOGGER.debug("Two-factor code refused: %s", err)
            errors["base"] = "invalid_two_factor"
        except NgucAuthError as err:
            _LOGGER.debug("Credentials refused: %s", err)
            errors["base"] = "invalid_auth"
        except NgucConnectionError as err:
            _LOGGER.debug("Cannot connect to NGUC: %s", err)
            errors["base"] = "cannot_connect"
        except Exception:
            _LOGGER.exception("Unexpected error while logging in to NGUC")
            errors["base"] = "unknown"
        else:
            return await self._async_finish(tokens, me, two_factor=code is not None)
        return None

    async def _async_finish(
        self, tokens: TokenSet, me: Me, *, two_factor: bool
    ) -> ConfigFlowResult:
        """Create the entry, or update the one being reauthenticated/reconfigured."""
        credentials = self._credentials
        unique_id = company_unique_id(me.company_id, credentials.company)
        data = credentials.entry_data(tokens, me, two_factor=two_factor)
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
        elif self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
        else:
            await self.async_set_unique_id(unique_id)
            self._abort_if_unique_id_configured()
            return self.async_create_entry(
                title=f"{me.company_name or credentials.company}"
                f" ({me.name or credentials.username})",
                data=data,
            )
        # The same company and the same user: the entry's devices are that
        # user's view of that company. (A second entry of a company that an
        # older version made keeps the unique id it had then.) The company's
        # id is an assumed field: an entry made while /user/me did not give
        # it is known by the company's name, and while it does not give it,
        # the name the user logged in with is all there is to compare.
        by_name = company_unique_id(None, credentials.company)
        same_company = entry.unique_id in (
            unique_id,
            legacy_unique_id(unique_id, me.id),
            by_name,
            legacy_unique_id(by_name, me.id),
        ) or (
            me.company_id is None
            and company_unique_id(None, entry.data.get(CONF_COMPANY, "")) == by_name
        )
        if not same_company or entry.data.get(CONF_USER_ID, me.id) != me.id:
            return self.async_abort(reason="wrong_account")
        # A full replacement rather than data_updates: a password kept from
        # before must go once the account uses two-factor authentication.
        new_data = {**entry.data, **data}
        if two_factor:
            new_data.pop(CONF_PASSWORD, None)
        # The unique id stays as it is: the devices' and entities' ids are
        # made of it, and moving them is the migration's work, not a flow's.
        return self.async_update_reload_and_abort(entry, data=new_data)

    def _credentials_step_id(self) -> str:
        """Return the step whose form asked for the password in this flow."""
        if self.source == SOURCE_REAUTH:
            return "reauth_confirm"
        if self.source == SOURCE_RECONFIGURE:
            return "reconfigure"
        return "user"

    @callback
    def _async_show_credentials_form(
        self,
        step_id: str,
        values: Mapping[str, Any] | None,
        errors: dict[str, str],
    ) -> ConfigFlowResult:
        """Show the user, reauth_confirm or reconfigure form, keeping ``values``."""
        if step_id == "reauth_confirm":
            entry = self._get_reauth_entry()
            return self.async_show_form(
                step_id=step_id,
                data_schema=self.add_suggested_values_to_schema(
                    STEP_REAUTH_SCHEMA, values
                ),
                errors=errors,
                description_placeholders={
                    CONF_USERNAME: entry.data[CONF_USERNAME],
                    CONF_COMPANY: entry.data[CONF_COMPANY],
                },
            )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                STEP_CREDENTIALS_SCHEMA, values
            ),
            errors=errors,
        )
