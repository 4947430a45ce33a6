"""The automation conditions of the integration: a queue's callers and agents, a user's line.

- ``weblink_nguc.callers_waiting`` (call queue devices): more than ``above``
  callers wait, and/or the caller waiting longest has waited more than
  ``wait_above`` seconds;
- ``weblink_nguc.agents_available`` (call queue devices): more than
  ``above`` and/or fewer than ``below`` agents are free;
- ``weblink_nguc.line_status`` (PBX user devices): the line's status, as the
  line status sensor names it, is one of ``status``.

The devices are the condition's target; ``behavior`` ``any`` (the default)
holds when one of them does, ``all`` when every one does. Given both bounds,
both must hold. An entity of the integration may stand for its device in the
target (``entity_id``), for blueprints that ask for a queue's sensor; the
automation editor offers devices.

Each is read from the coordinator's data, not from entity states, which may
be disabled. A wait is the longest wait of the queue's last snapshot plus
the time since it arrived, as the *Longest wait* sensor shows it
(``data.longest_wait_now``): it grows between snapshots, which NGUC sends
only when the queue changes. A wait not known (a caller NGUC lists without
one) is not above any bound.

A device whose config entry is not loaded, or whose entities are
unavailable (the event stream down beyond its grace), or whose item NGUC no
longer lists, does not hold: the condition is false then, never an error.
A device of the wrong kind, or of another integration, is refused when the
automation is validated, with a message in Home Assistant's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, Unpack, cast, override

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_ID,
    ATTR_ENTITY_ID,
    CONF_OPTIONS,
    CONF_TARGET,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.condition import (
    ATTR_BEHAVIOR,
    BEHAVIOR_ALL,
    BEHAVIOR_ANY,
    Condition,
    ConditionCheckParams,
    ConditionConfig,
)
from homeassistant.helpers.translation import async_get_translations
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util
import probatio as vol

from .api.models import COUNT_MAX
from .const import DOMAIN
from .coordinator import NgucConfigEntry, NgucCoordinator
from .data import KIND_QUEUE, KIND_USER, longest_wait_now
from .devices import item_of_device
from .sensor import LINE_STATES, line_state

CALLERS_WAITING: Final = "callers_waiting"
AGENTS_AVAILABLE: Final = "agents_available"
LINE_STATUS: Final = "line_status"

CONF_ABOVE: Final = "above"
CONF_BELOW: Final = "below"
CONF_WAIT_ABOVE: Final = "wait_above"
CONF_STATUS: Final = "status"

# The parser leaves out waits beyond a day (api.models): no longer wait is seen.
MAX_WAIT_SECONDS = 24 * 3600

# Keys of the validation messages, under ``exceptions`` in the translations.
MESSAGE_UNKNOWN_DEVICE = "condition_unknown_device"
MESSAGE_NOT_NGUC = "condition_not_nguc_device"
MESSAGE_NOT_QUEUE = "condition_not_queue"
MESSAGE_NOT_USER = "condition_not_user"
MESSAGE_TARGET_DEVICES_ONLY = "condition_target_devices_only"
MESSAGE_NO_THRESHOLD = "condition_no_threshold"


class _Refusal(StrEnum):
    """Why a device is not an item of the kind a condition tests."""

    UNKNOWN = MESSAGE_UNKNOWN_DEVICE
    NOT_NGUC = MESSAGE_NOT_NGUC
    WRONG_KIND = "wrong_kind"


class _Messages:
    """The validation messages, in Home Assistant's language (English if missing)."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts

    @classmethod
    async def async_load(cls, hass: HomeAssistant) -> _Messages:
        """Load the integration's exception messages (cached by Home Assistant)."""
        texts = await async_get_translations(hass, "en", "exceptions", [DOMAIN])
        if (language := hass.config.language) != "en":
            texts = {
                **texts,
                **await async_get_translations(hass, language, "exceptions", [DOMAIN]),
            }
        return cls(texts)

    def invalid(self, key: str, **placeholders: str) -> vol.Invalid:
        """Return the error to raise, its message translated."""
        text = self._texts.get(f"component.{DOMAIN}.exceptions.{key}.message")
        if not text:
            # Translations that cannot be read still say what is wrong.
            return vol.Invalid(
                f"{key}: {', '.join(f'{k}={v}' for k, v in placeholders.items())}"
            )
        try:
            return vol.Invalid(text.format(**placeholders))
        except KeyError, IndexError, ValueError:
            return vol.Invalid(text)


def _item_of_device(
    hass: HomeAssistant, device_id: str, kind: str
) -> tuple[str, str] | _Refusal:
    """Return the entry id and NGUC id of the item of ``kind`` a device stands for.

    Read from the device registry alone, so that automations are validated
    before the entry is loaded too; a refusal says why the device is not one.
    """
    device, entry = dr.async_get_device_and_config_entry_for_domain(
        hass, device_id, domain=DOMAIN, include_child_devices=False
    )
    if device is None:
        # An entity of another integration (see _target_devices) is no device.
        return _Refusal.NOT_NGUC if "." in device_id else _Refusal.UNKNOWN
    if entry is None:
        return _Refusal.NOT_NGUC
    if (item_id := item_of_device(entry, device, kind)) is None:
        return _Refusal.WRONG_KIND
    return entry.entry_id, item_id


def _target_devices(
    hass: HomeAssistant, target: dict[str, Any], *, validating: bool = False
) -> list[str]:
    """Return the devices of a target: its devices, then its entities' devices.

    An entity of another integration, or without a device, stands for
    itself: it is no device of ours, and so is refused or does not hold. One
    not in the registry is let pass validation, as Home Assistant's entity
    conditions do (it may be registered later); it does not hold.
    """
    registry = er.async_get(hass)
    devices: list[str] = list(cv.ensure_list(target.get(ATTR_DEVICE_ID)))
    for entity_id in cv.ensure_list(target.get(ATTR_ENTITY_ID)):
        entry = registry.async_get(entity_id)
        if entry is None and validating:
            continue
        device_id = (
            entry.device_id
            if entry is not None and entry.platform == DOMAIN and entry.device_id
            else entity_id
        )
        if device_id not in devices:
            devices.append(device_id)
    return devices


def _device_name(hass: HomeAssistant, device_id: str) -> str:
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return device_id
    return device.name_by_user or device.name or device_id


def _live_coordinator(hass: HomeAssistant, entry_id: str) -> NgucCoordinator | None:
    """Return the entry's coordinator while its entities are available; else None."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.state is not ConfigEntryState.LOADED:
        return None
    coordinator = cast(NgucConfigEntry, entry).runtime_data
    # As the entities decide: False once the stream is down beyond its grace.
    return coordinator if coordinator.available else None


def _count(maximum: int = COUNT_MAX) -> vol.All[Any]:
    return vol.All(vol.Coerce(int), vol.Range(min=0, max=maximum))


_DEVICES_AND_ENTITIES = (ATTR_DEVICE_ID, ATTR_ENTITY_ID)


def _devices_only(target: Any) -> Any:
    """Mark areas, floors, labels and exclusions: the target is devices (entities)."""
    if isinstance(target, dict):
        return {
            **target,
            "_others": sorted(
                key
                for key, value in target.items()
                if key not in _DEVICES_AND_ENTITIES and value
            ),
        }
    return target


def _some_device(target: dict[str, Any]) -> dict[str, Any]:
    # Other kinds are refused with a message of their own.
    if not target["_others"] and not any(
        target.get(key) for key in _DEVICES_AND_ENTITIES
    ):
        raise vol.Invalid("The target has no device", path=[ATTR_DEVICE_ID])
    return target


_TARGET_SCHEMA = vol.All(
    _devices_only,
    vol.Schema(
        {
            vol.Optional(ATTR_DEVICE_ID): vol.All(cv.ensure_list, [cv.string]),
            vol.Optional(ATTR_ENTITY_ID): vol.All(cv.ensure_list, [cv.string]),
            vol.Required("_others"): [str],
        },
        # Empty lists of other kinds, as the editor may leave them.
        extra=vol.REMOVE_EXTRA,
    ),
    _some_device,
)
_BEHAVIOR = {
    vol.Optional(ATTR_BEHAVIOR, default=BEHAVIOR_ANY): vol.In(
        [BEHAVIOR_ANY, BEHAVIOR_ALL]
    )
}


class NgucCondition(Condition):
    """A condition on call queue or user devices of this integration.

    A subclass names its ``kind``, its ``options_schema`` and which options
    are needed (one at least), and tests one item in :meth:`_item_holds`.
    """

    _key: str
    #: The kind of item the target's devices must be: KIND_QUEUE or KIND_USER.
    kind: ClassVar[str]
    #: The options, as the fields of conditions.yaml name them.
    options_schema: ClassVar[vol.Schema]
    _one_of: tuple[str, ...] = ()

    @classmethod
    @override
    async def async_validate_config(
        cls, hass: HomeAssistant, config: ConfigType
    ) -> ConfigType:
        """Validate: devices of this integration of the condition's kind."""
        messages = await _Messages.async_load(hass)
        config = vol.Schema(
            {
                vol.Required(CONF_TARGET): _TARGET_SCHEMA,
                vol.Required(CONF_OPTIONS, default={}): cls.options_schema,
            }
        )(config)
        target: dict[str, Any] = config[CONF_TARGET]
        if others := target.pop("_others"):
            raise messages.invalid(
                MESSAGE_TARGET_DEVICES_ONLY,
                condition=f"{DOMAIN}.{cls._key}",
                targets=", ".join(others),
            )
        options: dict[str, Any] = config[CONF_OPTIONS]
        if cls._one_of and not any(options.get(key) is not None for key in cls._one_of):
            raise messages.invalid(
                MESSAGE_NO_THRESHOLD,
                condition=f"{DOMAIN}.{cls._key}",
                options=" / ".join(cls._one_of),
            )
        for device_id in _target_devices(hass, target, validating=True):
            found = _item_of_device(hass, device_id, cls.kind)
            if not isinstance(found, _Refusal):
                continue
            key = found.value
            if found is _Refusal.WRONG_KIND:
                key = MESSAGE_NOT_QUEUE if cls.kind == KIND_QUEUE else MESSAGE_NOT_USER
            raise messages.invalid(
                key,
                device=_device_name(hass, device_id),
                condition=f"{DOMAIN}.{cls._key}",
            )
        return config

    def __init__(self, hass: HomeAssistant, config: ConditionConfig) -> None:
        """Keep the target devices and options (validated)."""
        super().__init__(hass, config)
        target: dict[str, Any] = config.target or {}
        self._options: dict[str, Any] = config.options or {}
        self._target = target
        self._combine: Callable[[Iterable[object]], bool] = (
            all if self._options.get(ATTR_BEHAVIOR) == BEHAVIOR_ALL else any
        )

    @override
    def _async_check(self, **kwargs: Unpack[ConditionCheckParams]) -> bool:
        """Return whether any (or all) of the target devices hold."""
        now = dt_util.utcnow()
        # Looked up each time: an entity may move, a device may go.
        devices = _target_devices(self._hass, self._target)
        return bool(devices) and self._combine(
            self._device_holds(device_id, now) for device_id in devices
        )

    def _device_holds(self, device_id: str, now: datetime) -> bool:
        found = _item_of_device(self._hass, device_id, self.kind)
        if isinstance(found, _Refusal):
            return False  # removed since the automation was validated
        entry_id, item_id = found
        if (coordinator := _live_coordinator(self._hass, entry_id)) is None:
            return False
        return self._item_holds(coordinator, item_id, now)

    def _item_holds(
        self, coordinator: NgucCoordinator, item_id: str, now: datetime
    ) -> bool:
        raise NotImplementedError


def _above(value: float | None, bound: float | None) -> bool:
    """Return whether ``value`` is above ``bound``; True without a bound."""
    return bound is None or (value is not None and value > bound)


def _below(value: float | None, bound: float | None) -> bool:
    """Return whether ``value`` is below ``bound``; True without a bound."""
    return bound is None or (value is not None and value < bound)


class CallersWaitingCondition(NgucCondition):
    """More than ``above`` callers wait, and/or one has waited over ``wait_above`` s."""

    _key = CALLERS_WAITING
    kind = KIND_QUEUE
    options_schema = vol.Schema(
        {
            **_BEHAVIOR,
            vol.Optional(CONF_ABOVE): _count(),
            vol.Optional(CONF_WAIT_ABOVE): _count(MAX_WAIT_SECONDS),
        }
    )
    _one_of = (CONF_ABOVE, CONF_WAIT_ABOVE)

    @override
    def _item_holds(
        self, coordinator: NgucCoordinator, item_id: str, now: datetime
    ) -> bool:
        if (queue := coordinator.data.queues.get(item_id)) is None:
            return False
        if not _above(queue.waiting, self._options.get(CONF_ABOVE)):
            return False
        if (wait_above := self._options.get(CONF_WAIT_ABOVE)) is None:
            return True
        received = coordinator.queue_received.get(item_id)
        return _above(longest_wait_now(queue, received, now), wait_above)


class AgentsAvailableCondition(NgucCondition):
    """More than ``above`` and/or fewer than ``below`` of a queue's agents are free."""

    _key = AGENTS_AVAILABLE
    kind = KIND_QUEUE
    options_schema = vol.Schema(
        {
            **_BEHAVIOR,
            vol.Optional(CONF_ABOVE): _count(),
            vol.Optional(CONF_BELOW): _count(),
        }
    )
    _one_of = (CONF_ABOVE, CONF_BELOW)

    @override
    def _item_holds(
        self, coordinator: NgucCoordinator, item_id: str, now: datetime
    ) -> bool:
        if (queue := coordinator.data.queues.get(item_id)) is None:
            return False
        free = queue.member_available
        return _above(free, self._options.get(CONF_ABOVE)) and _below(
            free, self._options.get(CONF_BELOW)
        )


class LineStatusCondition(NgucCondition):
    """A user's line status is one of ``status``."""

    _key = LINE_STATUS
    kind = KIND_USER
    options_schema = vol.Schema(
        {
            **_BEHAVIOR,
            vol.Required(CONF_STATUS): vol.All(
                cv.ensure_list, vol.Length(min=1), [vol.In(LINE_STATES)]
            ),
        }
    )

    @override
    def _item_holds(
        self, coordinator: NgucCoordinator, item_id: str, now: datetime
    ) -> bool:
        if item_id not in coordinator.data.users:
            return False
        status = coordinator.data.statuses.get(item_id)
        return status is not None and line_state(status) in self._options[CONF_STATUS]


NGUC_CONDITIONS: dict[str, type[NgucCondition]] = {
    CALLERS_WAITING: CallersWaitingCondition,
    AGENTS_AVAILABLE: AgentsAvailableCondition,
    LINE_STATUS: LineStatusCondition,
}
CONDITIONS: dict[str, type[Condition]] = dict(NGUC_CONDITIONS)


async def async_get_conditions(hass: HomeAssistant) -> dict[str, type[Condition]]:
    """Return the conditions of the Weblink NGUC integration."""
    return CONDITIONS
