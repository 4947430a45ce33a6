"""The simulator's demo shows the call-centre features over the real event pusher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import pytest

from custom_components.weblink_nguc.api import NgucClient, NgucNotFoundError
from tests.simulator import Simulator, demo_company, run_demo
from tests.test_simulator import decode_a, events, receive_text, token

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def sim() -> AsyncGenerator[Simulator]:
    simulator = Simulator(demo_company())
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


class Seen:
    """What a subscriber of the event pusher saw of the demo."""

    def __init__(self) -> None:
        self.paused: dict[tuple[str, str], set[str]] = {}
        self.most_callers = 0
        self.longest_wait = 0
        self.missed = 0
        self.internal = 0
        self.picked: tuple[str, str] | None = None
        self.picked_ended = False
        self.started = asyncio.get_running_loop().time()
        # Calls said to have lasted longer than the demo has run.
        self.impossible: list[str] = []

    def add(self, name: str, payload: dict[str, Any]) -> None:
        ran = asyncio.get_running_loop().time() - self.started
        length = payload.get("billsec") if name == "Cdr" else payload.get("talk_time")
        if name in ("Cdr", "QueueCdr") and int(length or 0) > ran + 1:
            self.impossible.append(f"{name} of {length} s after {ran:.1f} s")
        if name == "Queue":
            queue_id = payload["queue"]["id"]
            for member in payload["members"]:
                key = (queue_id, member["pbx_user_id"])
                self.paused.setdefault(key, set()).add(member["paused"])
            callers = payload["callers"]
            self.most_callers = max(self.most_callers, len(callers))
            waits = [int(c["wait"]) for c in callers]
            self.longest_wait = max([self.longest_wait, *waits])
        elif name == "Cdr":
            if payload["direction"] == "IN" and payload["disposition"] == "NO ANSWER":
                self.missed += 1
            if payload["src_pbx_user_id"] and payload["dst_pbx_user_id"]:
                self.internal += 1
        elif (
            name == "QueueCdr"
            and self.picked == (payload["ast_queue_id"], payload["call_guid"])
            and payload["reason"] == "COMPLETECALLER"
            and payload["pbx_user_id"] == "86480"
        ):
            self.picked_ended = True

    def complete(self) -> bool:
        return (
            any(states == {"0", "1"} for states in self.paused.values())
            and self.most_callers >= 2
            and self.longest_wait > 0
            and self.missed > 0
            and self.internal >= 2
            and self.picked_ended
        )


async def test_demo_shows_the_call_centre(sim: Simulator) -> None:
    seen = Seen()
    async with aiohttp.ClientSession() as session:
        client = NgucClient(
            session,
            company="demo",
            username="demo",
            password="demo",
            api_url=sim.api_url,
        )
        async with events(session, sim, await token(session, sim)) as ws:
            await sim.wait_for_connections(1)
            demo = asyncio.create_task(run_demo(sim, seed=1, interval=0.01))
            try:
                async with asyncio.timeout(30):
                    while not seen.complete():
                        for name, payload in decode_a(await receive_text(ws)):
                            seen.add(name, payload)
                            if seen.picked is None and name == "Queue":
                                await pick_up(client, payload, seen)
            finally:
                demo.cancel()
                await asyncio.gather(demo, return_exceptions=True)
    # Each call lasted no longer than the demo had run when it ended.
    assert seen.impossible == []
    # The one caller picked up over the API, then hung up by the demo.
    assert seen.picked is not None
    assert sim.pickups == [(*seen.picked, "86480")]


async def pick_up(client: NgucClient, payload: dict[str, Any], seen: Seen) -> None:
    """Pick up the first caller of a snapshot, as Home Assistant's action would."""
    if not payload["callers"]:
        return
    queue_id, guid = payload["queue"]["id"], payload["callers"][0]["call_guid"]
    try:
        await client.pickup_queue_caller(queue_id, guid)
    except NgucNotFoundError:
        return  # an agent of the demo answered first
    seen.picked = (queue_id, guid)
