"""Exceptions raised by the NGUC client.

Messages never carry a password or a token.
"""


class NgucError(Exception):
    """Base class of every error the NGUC client raises."""


class NgucConnectionError(NgucError):
    """NGUC could not be reached: network error, timeout or a server error."""


class NgucRateLimitError(NgucConnectionError):
    """NGUC asked us to slow down (HTTP 429)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        """Keep the server's Retry-After, in seconds, when it gave one."""
        super().__init__(message)
        self.retry_after = retry_after


class NgucAuthError(NgucError):
    """The credentials or tokens were rejected; a person must log in again."""


class NgucTwoFactorError(NgucAuthError):
    """A two-factor code is needed, or the one given is wrong or expired."""


class NgucResponseError(NgucError):
    """NGUC answered with something this client cannot read."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """Keep the HTTP status of the answer, when it was an error status."""
        super().__init__(message)
        self.status = status


class NgucNotFoundError(NgucResponseError):
    """NGUC has no such endpoint or item (HTTP 404)."""


class NgucUnreadableListError(NgucResponseError):
    """A list answered items, none of which can be read (a field renamed?).

    Not an empty list: what the list held is kept, and it is read again.
    """
