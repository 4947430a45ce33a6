"""The faults the fault matrix and the soak inflict on an in-process simulator.

Each is what NGUC, its load balancer or the network does on a bad day, made
of the simulator's primitives (`fail_path`, `override_path`, `hang_path`,
`stale_path`, `truncate_path`, `unreadable_path`, `fail_token`, the
connection knobs). A fault only sets the
server up; `force_read` then makes the integration meet it in a read of
the state (a dropped connection is followed by one), and `clear` undoes
every fault.
"""

from __future__ import annotations

import json
from typing import Any, Final

from tests.simulator import Device, Simulator, User
from tests.simulator.server import ExpiresIn

USERS: Final = "/company/user"
STATUSES: Final = "/company/user/status"
PHONES: Final = "/company/device"
QUEUES: Final = "/company/queue"
LISTS: Final = (USERS, STATUSES, PHONES, QUEUES)
GO_AWAY: Final = (3000, "Go away!")

#: `expires_in` values token endpoints have been seen to answer.
ODD_EXPIRES_IN: Final[tuple[Any, ...]] = (0, -5, ExpiresIn.MISSING, "0", "soon")


def malformed_frames(good_event: str) -> list[str]:
    """Frames a broken server could send; each carries ``good_event`` or nothing."""
    return [
        "a[not json",
        "x[1]",
        "a" + json.dumps([json.dumps(["OnlyName"]), good_event]),
        "a" + json.dumps([{"x": 1}, good_event]),
        "a" + json.dumps([json.dumps(["UserStatus", {"status": "1"}]), good_event]),
    ]


class Faults:
    """The faults of one simulator."""

    def __init__(self, sim: Simulator) -> None:
        """Inflict faults on ``sim``."""
        self.sim = sim

    def clear(self) -> None:
        """Undo every fault (the company is kept as it is)."""
        self.sim.clear_faults()

    async def force_read(self) -> None:
        """Drop the connection: the reconnect reads the whole state again."""
        await self.sim.drop_connections()

    # --- the event stream ----------------------------------------------------------------

    def close_next(self, count: int) -> None:
        """Close each of the next ``count`` connections with c[3000,"Go away!"] at `authenticate`."""
        self.sim.close_after_auth(count, *GO_AWAY)

    async def go_away(self, closes: int = 1) -> None:
        """Close with c[3000,"Go away!"], and so the next ``closes`` connections at once."""
        self.close_next(closes)
        await self.sim.close_connections(*GO_AWAY)

    async def tcp_drop(self) -> None:
        """Cut the TCP connection: no close frame."""
        await self.sim.drop_connections()

    def half_open(self) -> None:
        """Silence the connection at both levels (no h, no pong), socket open."""
        self.sim.silence_connections()

    async def unreachable(self) -> None:
        """Be unreachable until :meth:`reachable`: connections refused, sockets cut."""
        await self.sim.go_offline()

    async def reachable(self) -> None:
        """Be reachable again."""
        await self.sim.come_back()

    async def malformed_frame(self, frame: str) -> None:
        """Send ``frame`` as it is (see `malformed_frames`)."""
        await self.sim.send_raw(frame)

    async def open_again(self) -> None:
        """Send a second `o` on the open session."""
        await self.sim.send_open_again()

    # --- tokens --------------------------------------------------------------------------

    async def token_expired(self) -> None:
        """Expire every access token; the reconnect comes with the old one."""
        self.sim.expire_access_tokens()
        await self.sim.drop_connections()

    async def tokens_revoked(self) -> None:
        """Revoke every token: only the password signs in again."""
        self.sim.revoke_tokens()
        await self.sim.drop_connections()

    def token_endpoint_down(self, status: int = 503) -> None:
        """The token endpoint answers ``status`` to everything until :meth:`token_endpoint_back`."""
        self.sim.fail_token(status)

    def token_endpoint_back(self) -> None:
        """The token endpoint answers again."""
        self.sim.token_status = self.sim.token_retry_after = None

    def refuse_credentials(self) -> None:
        """The token endpoint refuses every grant (401 invalid_grant): a reauthentication."""
        self.sim.fail_token(401)

    def slow_token(self, seconds: float) -> None:
        """Token answers come ``seconds`` after the grant is done (the old refresh token spent)."""
        self.sim.token_answer_delay = seconds

    def odd_expires_in(self, value: Any) -> None:
        """Token answers say `expires_in`: ``value`` (see `ODD_EXPIRES_IN`)."""
        self.sim.expires_in = value

    # --- the REST lists ------------------------------------------------------------------

    def rest_error(
        self,
        path: str,
        status: int,
        *,
        count: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer ``status`` to the next ``count`` requests for ``path`` (None: until cleared)."""
        self.sim.fail_path(path, status, count=count, retry_after=retry_after)

    def refuse_list(self, path: str, status: int = 403) -> None:
        """Refuse this account a list until :meth:`list_back` (403: no permission)."""
        self.sim.fail_path(path, status)

    def list_back(self, path: str) -> None:
        """Answer ``path`` truthfully again."""
        self.sim.clear_path(path)

    def empty_list_once(self, path: str) -> None:
        """Answer the next request for ``path`` with 200 and an empty list."""
        self.sim.override_path(path, [], count=1)

    def truncated_list(self, path: str, n: int, *, count: int | None = 1) -> None:
        """Answer the next ``count`` requests for ``path`` with its first ``n`` items only (200)."""
        self.sim.truncate_path(path, n, count=count)

    def unreadable_list(self, path: str, *, count: int | None = None) -> None:
        """Answer ``path`` with every item's id field renamed (None: until `list_back`)."""
        self.sim.unreadable_path(path, count=count)

    def lists_401_token_down(self, paths: tuple[str, ...] = LISTS) -> None:
        """Every list answers 401 and the token endpoint 503, until `lists_401_back`.

        The stream's access token is still good: it stays up. Only the
        lists' own retries can end the outage.
        """
        for path in paths:
            self.sim.fail_path(path, 401)
        self.token_endpoint_down()

    def lists_401_back(self, paths: tuple[str, ...] = LISTS) -> None:
        """The lists and the token endpoint answer again."""
        for path in paths:
            self.list_back(path)
        self.token_endpoint_back()

    def flapping(self, every: float | None) -> None:
        """Close every connection ``every`` s after it opened (None: no more), as a proxy does."""
        self.sim.connection_lifetime = every

    def rest_timeout(self, path: str, seconds: float, *, count: int | None = 1) -> None:
        """Hold the next ``count`` requests for ``path`` (None: all) ``seconds`` before answering."""
        self.sim.hang_path(path, seconds, count=count)

    def stale_lists(self, paths: tuple[str, ...], seconds: float) -> None:
        """Answer each of ``paths`` once with the state ``seconds`` older than the answer."""
        for path in paths:
            self.sim.stale_path(path, seconds, count=1)

    # --- the company ---------------------------------------------------------------------

    def remove_user(self, user_id: str) -> None:
        """Remove a user (their phones, memberships) from NGUC; no event tells it."""
        self.sim.company.remove_user(user_id)

    async def user_by_event(self, user: User, status: int, phone: Device) -> None:
        """A user and a phone NGUC's lists do not name yet, known by their events only."""
        await self.sim.add_user_by_event(user, status=status, phone=phone)
