"""Phone numbers in E.164, so that two spellings of one number compare equal.

``0701234567``, ``070-123 45 67``, ``+46701234567`` and ``0046701234567`` are
one Swedish number. National numbers are read in the country Home Assistant
is configured for (Sweden when none is set). A short number (an extension)
has no E.164 form and is compared by its digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Dialling:
    """How numbers are dialled in one country."""

    calling_code: str
    international_prefix: str = "00"
    trunk_prefix: str | None = "0"  # None: national numbers have none


DEFAULT_COUNTRY: Final = "SE"

# The countries a hosted Swedish PBX is likely to be used in and called from.
# Elsewhere, only numbers written with + or 00 have an E.164 form.
DIALLING: Final[dict[str, Dialling]] = {
    "SE": Dialling("46"),
    "NO": Dialling("47", trunk_prefix=None),
    "DK": Dialling("45", trunk_prefix=None),
    "FI": Dialling("358"),
    "IS": Dialling("354", trunk_prefix=None),
    "DE": Dialling("49"),
    "GB": Dialling("44"),
    "NL": Dialling("31"),
    "FR": Dialling("33"),
    "ES": Dialling("34", trunk_prefix=None),
    "PL": Dialling("48", trunk_prefix=None),
    "EE": Dialling("372", trunk_prefix=None),
    "US": Dialling("1", international_prefix="011", trunk_prefix="1"),
    "CA": Dialling("1", international_prefix="011", trunk_prefix="1"),
}

# E.164 allows at most 15 digits; a national number is longer than any
# extension (Sweden's shortest national numbers have 7 digits after the 0).
_MAX_DIGITS: Final = 15
_MIN_NATIONAL_DIGITS: Final = 6


def _cleaned(number: str) -> str:
    """Return the digits of a number, with a leading + kept."""
    text = number.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    return "+" + digits if text.startswith("+") else digits


def to_e164(number: str | None, country: str | None = None) -> str | None:
    """Return ``number`` in E.164 (``+46701234567``), or None if it has no such form."""
    if not number:
        return None
    cleaned = _cleaned(number)
    dialling = DIALLING.get((country or DEFAULT_COUNTRY).upper())
    international = dialling.international_prefix if dialling else "00"
    if cleaned.startswith("+"):
        digits = cleaned[1:]
    elif cleaned.startswith(international):
        digits = cleaned[len(international) :]
    elif (
        dialling is not None
        and dialling.trunk_prefix is not None
        and cleaned.startswith(dialling.trunk_prefix)
        and len(cleaned) > _MIN_NATIONAL_DIGITS
    ):
        digits = dialling.calling_code + cleaned[len(dialling.trunk_prefix) :]
    elif (
        dialling is not None
        and dialling.trunk_prefix is None
        and len(cleaned) > _MIN_NATIONAL_DIGITS
    ):
        digits = dialling.calling_code + cleaned
    else:
        return None
    if not digits or digits[0] == "0" or len(digits) > _MAX_DIGITS:
        return None
    return "+" + digits


def number_key(number: str | None, country: str | None = None) -> str | None:
    """Return what to compare a number by: E.164 where it can be, else its digits."""
    if not number:
        return None
    return to_e164(number, country) or _cleaned(number) or None
