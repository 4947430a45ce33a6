"""A fake frontend ``hass`` for a company of any size, made from the integration's own entity descriptions.

The frontend gives a strategy the registry's display entries of enabled
entities (``hass.entities``), the devices and the states. Which entities a
queue, a user, a phone and the account have, their roles (translation keys)
and which start disabled are read from the platforms' descriptions, so that
a new entity shows up here by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.helpers.entity import EntityDescription

from custom_components.weblink_nguc import binary_sensor, event, sensor, todo

# The entities of each kind of device: (domain, description).
type Described = tuple[str, EntityDescription]

ACCOUNT: list[Described] = [
    *(("sensor", d) for d in sensor.ACCOUNT_SENSORS),
    *(("binary_sensor", d) for d in binary_sensor.ACCOUNT_BINARY_SENSORS),
]
USER: list[Described] = [
    *(("sensor", d) for d in sensor.USER_SENSORS),
    *(("sensor", d) for d in sensor.USER_QUEUE_SENSORS),
    ("sensor", sensor.MISSED_CALLS_TODAY),
    ("sensor", sensor.LAST_MISSED_CALL),
    *(("binary_sensor", d) for d in binary_sensor.USER_QUEUE_BINARY_SENSORS),
    *(("event", d) for d in event.EVENT_DESCRIPTIONS if d.kind.kind == "user"),
    ("todo", todo.CALLS_TO_RETURN),
]
QUEUE: list[Described] = [
    *(("sensor", d) for d in sensor.QUEUE_SENSORS),
    ("sensor", sensor.LONGEST_WAITING_SINCE),
    *(("event", d) for d in event.EVENT_DESCRIPTIONS if d.kind.kind == "queue"),
    ("todo", todo.CALLS_TO_RETURN),
]
PHONE: list[Described] = [
    *(("binary_sensor", d) for d in binary_sensor.PHONE_BINARY_SENSORS),
]
ENTRY_ID = "entry1"


class FakeHass:
    """``hass.devices``, ``hass.entities`` and ``hass.states`` of one company."""

    def __init__(self) -> None:
        """Start with nothing."""
        self.devices: dict[str, dict[str, Any]] = {}
        self.entities: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        # Every entity made, enabled or not: device id -> role -> entity id.
        self.roles: dict[str, dict[str, str]] = {}
        # Home Assistant records activity (default_config's logbook).
        self.config: dict[str, Any] = {"components": ["logbook", "weblink_nguc"]}
        self.language = "en"

    def as_json(self) -> dict[str, Any]:
        """Return what the strategy is given."""
        return {
            "devices": self.devices,
            "entities": self.entities,
            "states": self.states,
            "config": self.config,
            "language": self.language,
            "locale": {"language": self.language},
        }

    def add_device(
        self, device_id: str, name: str, model: str, described: Iterable[Described]
    ) -> str:
        """Add a device and its entities; those disabled by default are left out."""
        self.devices[device_id] = {
            "id": device_id,
            "name": name,
            "name_by_user": None,
            "model": model,
            "config_entry_id": ENTRY_ID,
        }
        roles = self.roles.setdefault(device_id, {})
        for domain, description in described:
            entity_id = f"{domain}.{device_id}_{description.key}"
            roles[description.translation_key or description.key] = entity_id
            if description.entity_registry_enabled_default:
                self.add_entity(entity_id, device_id, description)
        return device_id

    def add_entity(
        self, entity_id: str, device_id: str, description: EntityDescription
    ) -> None:
        """Add an enabled entity: its display entry and a state."""
        entry: dict[str, Any] = {
            "entity_id": entity_id,
            "device_id": device_id,
            "platform": "weblink_nguc",
            "translation_key": description.translation_key,
        }
        if description.entity_category is not None:
            entry["entity_category"] = str(description.entity_category)
        self.entities[entity_id] = entry
        self.states[entity_id] = {"state": "0", "attributes": {}}

    def disable(self, entity_id: str) -> None:
        """Disable an entity: the frontend then knows neither it nor its state."""
        del self.entities[entity_id]
        del self.states[entity_id]

    def set(self, entity_id: str, state: str, **attributes: Any) -> None:
        """Set an entity's state."""
        self.states[entity_id] = {"state": state, "attributes": attributes}


def company(queues: int, users: int) -> FakeHass:
    """Return a company of ``queues`` queues and ``users`` users, each with a phone.

    User ``n`` is an agent of queue ``n % queues``; every line is idle and
    no caller waits.
    """
    hass = FakeHass()
    hass.add_device("account", "demo (Anna)", "NGUC account", ACCOUNT)
    queue_names = [f"Queue {n:03d}" for n in range(queues)]
    for n, name in enumerate(queue_names):
        hass.add_device(f"queue_{n}", name, "Call queue", QUEUE)
    for n in range(users):
        user = hass.add_device(f"user_{n}", f"User {n:04d}", "PBX user", USER)
        hass.add_device(f"phone_{n}", f"Phone {n}", "Yealink T54W", PHONE)
        hass.set(hass.roles[user]["line_status"], "idle")
        if queues:
            membership = {"name": queue_names[n % queues], "paused": False}
            hass.set(hass.roles[user]["queues"], "1", queues=[membership])
    # Other integrations' entities and devices are not the wallboard's.
    hass.devices["lamp"] = {"id": "lamp", "name": "Desk lamp", "model": "Lamp"}
    hass.entities["light.desk_lamp"] = {
        "entity_id": "light.desk_lamp",
        "device_id": "lamp",
        "platform": "hue",
        "translation_key": "waiting",
    }
    hass.states["light.desk_lamp"] = {"state": "on", "attributes": {}}
    return hass
