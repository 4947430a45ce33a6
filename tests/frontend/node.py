"""Run the wallboard strategy's ``generate`` under Node.js, as the frontend would call it.

The module is imported as the browser imports it, with the few browser
globals it touches (``window``, ``customElements``, ``HTMLElement``) faked;
the fake ``hass`` is given as JSON and the dashboard comes back as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import json
import shutil
import subprocess
from typing import Any

from custom_components.weblink_nguc.wallboard import WALLBOARD_FILE

NODE = shutil.which("node")

_RUNNER = """
const defined = {};
globalThis.HTMLElement = class {};
globalThis.window = globalThis;
globalThis.customElements = {
  define(name, cls) { defined[name] = cls; },
  get(name) { return defined[name]; },
};
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", async () => {
  const { module, config, hass } = JSON.parse(input);
  await import(module);
  const element = defined["ll-strategy-dashboard-weblink-nguc-wallboard"];
  const answer = { elements: Object.keys(defined), strategies: window.customStrategies };
  try {
    answer.dashboard = await element.generate(config, hass);
  } catch (err) {
    answer.error = String(err && err.message);
  }
  process.stdout.write(JSON.stringify(answer));
});
"""


class WallboardError(Exception):
    """The strategy threw: the frontend shows this message in the dashboard."""


def run_strategy(config: Mapping[str, Any], hass: Mapping[str, Any]) -> dict[str, Any]:
    """Return what Node answered: the dashboard, the elements and strategies registered."""
    assert NODE is not None, "no node"
    result = subprocess.run(  # noqa: S603 - our own script and module
        [NODE, "--input-type=module", "-e", _RUNNER],
        input=json.dumps(
            {"module": WALLBOARD_FILE.as_uri(), "config": config, "hass": hass}
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def generate(config: Mapping[str, Any], hass: Mapping[str, Any]) -> dict[str, Any]:
    """Return the dashboard the strategy builds; WallboardError if it throws."""
    answer = run_strategy(config, hass)
    if "error" in answer:
        raise WallboardError(answer["error"])
    dashboard: dict[str, Any] = answer["dashboard"]
    return dashboard


def cards(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every card (and section, view, badge) of a dashboard, depth first."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from cards(value)
    elif isinstance(node, list):
        for value in node:
            yield from cards(value)


def referenced(node: Any) -> set[str]:
    """Return every entity id the dashboard names: cards, conditions, targets."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("entity", "entity_id"):
                found.update([value] if isinstance(value, str) else value)
            else:
                found |= referenced(value)
    elif isinstance(node, list):
        for value in node:
            found |= referenced(value)
    return found


def shown(card: Mapping[str, Any], states: Mapping[str, str]) -> bool:
    """Return whether the frontend shows ``card`` with these states (its visibility)."""
    return all(_holds(c, states) for c in card.get("visibility", ()))


def _holds(condition: Mapping[str, Any], states: Mapping[str, str]) -> bool:
    kind = condition["condition"]
    if kind == "and":
        return all(_holds(c, states) for c in condition["conditions"])
    if kind == "or":
        return any(_holds(c, states) for c in condition["conditions"])
    if kind == "not":
        return not all(_holds(c, states) for c in condition["conditions"])
    state = states[condition["entity"]]
    if kind == "state":
        if "state" in condition:
            wanted = condition["state"]
            return state in (wanted if isinstance(wanted, list) else [wanted])
        return state not in condition["state_not"]
    assert kind == "numeric_state", condition
    try:
        value = float(state)
    except ValueError:
        return False
    return ("above" not in condition or value > condition["above"]) and (
        "below" not in condition or value < condition["below"]
    )
