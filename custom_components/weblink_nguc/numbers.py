"""Phone numbers in E.164, so that two spellings of one number compare equal.

``0701234567``, ``070-123 45 67``, ``+46701234567``, ``0046701234567``,
``46701234567`` and ``"Room 12" <0701234567>`` are one Swedish number.
National numbers are read in the country Home Assistant is configured for
(Sweden when none is set). A short number (an extension) has no E.164 form
and is compared by its digits; an extension dialled after a number
(``+46812345600;ext=12``, ``08-123 456 00 ext. 12``) stays part of it.

:func:`number_key` is what numbers are compared by; :func:`display_number`
is how every part of the integration writes one (the lists, the call
history, *Activity*): E.164 where it can be, else as NGUC sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Final


@dataclass(frozen=True, slots=True)
class Dialling:
    """How numbers are dialled in one country."""

    calling_code: str
    international_prefix: str = "00"
    trunk_prefix: str | None = "0"  # None: national numbers have none
    # Digits of a national number where there is no trunk prefix: a longer
    # number that starts with the calling code is international without +.
    national_digits: int | None = None


DEFAULT_COUNTRY: Final = "SE"

# The countries a hosted Swedish PBX is likely to be used in and called from.
# Elsewhere, only numbers written with + or 00 have an E.164 form.
DIALLING: Final[dict[str, Dialling]] = {
    "SE": Dialling("46"),
    "NO": Dialling("47", trunk_prefix=None, national_digits=8),
    "DK": Dialling("45", trunk_prefix=None, national_digits=8),
    "FI": Dialling("358"),
    "IS": Dialling("354", trunk_prefix=None, national_digits=7),
    "DE": Dialling("49"),
    "GB": Dialling("44"),
    "NL": Dialling("31"),
    "FR": Dialling("33"),
    "ES": Dialling("34", trunk_prefix=None, national_digits=9),
    "PL": Dialling("48", trunk_prefix=None, national_digits=9),
    "EE": Dialling("372", trunk_prefix=None),
    "US": Dialling("1", international_prefix="011", trunk_prefix="1"),
    "CA": Dialling("1", international_prefix="011", trunk_prefix="1"),
}

# E.164 allows at most 15 digits; a national number is longer than any
# extension (Sweden's shortest national numbers have 7 digits after the 0).
_MAX_DIGITS: Final = 15
_MIN_NATIONAL_DIGITS: Final = 6
# Where national numbers start with 0, a longer number without it is one
# written internationally without + (46701234567): a calling code and at
# least 7 digits.
_MIN_INTERNATIONAL_DIGITS: Final = 9

# "Room 12" <sip:0701234567@pbx;user=phone>: the number is in the brackets.
_BRACKETS: Final = re.compile(r"<([^<>]*)>")
_QUOTED: Final = re.compile(r'"[^"]*"')
_SCHEME: Final = re.compile(r"^\s*(?:sips?|tel):", re.IGNORECASE)
# An extension dialled after the number: ;ext=12, ext. 12, x12, #12.
_EXTENSION: Final = re.compile(
    r"(?:;\s*ext\s*=|\s*(?:ext\.?|extension|anknytning|ankn\.?)\s*|\s*[x#]\s*)(\d+)\s*$",
    re.IGNORECASE,
)


def _parts(number: str) -> tuple[str, str | None]:
    """Return the number NGUC sent without a name around it, and its extension."""
    text = number
    if (bracketed := _BRACKETS.search(text)) is not None:
        text = bracketed.group(1)
    else:
        text = _QUOTED.sub(" ", text)
    text = _SCHEME.sub("", text)
    # A SIP address: the user part is the number; parameters are not.
    text = text.split("@", 1)[0]
    extension = None
    if (found := _EXTENSION.search(text)) is not None and any(
        ch.isdigit() for ch in text[: found.start()]
    ):
        extension = found.group(1)
        text = text[: found.start()]
    text = text.split(";", 1)[0]
    if text.lstrip().startswith(("+", "00")):
        # +46 (0)70...: the trunk prefix in brackets is not dialled.
        text = text.replace("(0)", "")
    return text, extension


def _cleaned(number: str) -> str:
    """Return the digits of a number, with a leading + kept."""
    text = number.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    return "+" + digits if text.startswith("+") else digits


def _e164_digits(cleaned: str, country: str | None) -> str | None:
    dialling = DIALLING.get((country or DEFAULT_COUNTRY).upper())
    international = dialling.international_prefix if dialling else "00"
    if cleaned.startswith("+"):
        digits = cleaned[1:]
    elif cleaned.startswith(international):
        digits = cleaned[len(international) :]
    elif dialling is None:
        return None
    elif dialling.trunk_prefix is not None and cleaned.startswith(
        dialling.trunk_prefix
    ):
        if len(cleaned) <= _MIN_NATIONAL_DIGITS:
            return None
        digits = dialling.calling_code + cleaned[len(dialling.trunk_prefix) :]
    elif dialling.trunk_prefix == "0":
        # Not national (those start with 0): international without +.
        if len(cleaned) < _MIN_INTERNATIONAL_DIGITS:
            return None
        digits = cleaned
    elif dialling.trunk_prefix is None and len(cleaned) > _MIN_NATIONAL_DIGITS:
        national = dialling.national_digits
        code = dialling.calling_code
        if (
            national is not None
            and cleaned.startswith(code)
            and len(cleaned) >= len(code) + national
        ):
            digits = cleaned
        else:
            digits = code + cleaned
    else:
        return None
    if not digits or digits[0] == "0" or len(digits) > _MAX_DIGITS:
        return None
    return digits


def to_e164(number: str | None, country: str | None = None) -> str | None:
    """Return ``number`` in E.164 (``+46701234567``), or None if it has no such form.

    An extension dialled after the number is left out.
    """
    if not number:
        return None
    text, _extension = _parts(number)
    digits = _e164_digits(_cleaned(text), country)
    return None if digits is None else "+" + digits


def number_key(number: str | None, country: str | None = None) -> str | None:
    """Return what to compare a number by: E.164 where it can be, else its digits.

    An extension after a number is kept: ``+46812345600;ext=12``.
    """
    if not number:
        return None
    text, extension = _parts(number)
    cleaned = _cleaned(text)
    digits = _e164_digits(cleaned, country)
    key = "+" + digits if digits is not None else cleaned
    if not key or key == "+":
        return None
    return key if extension is None else f"{key};ext={extension}"


def display_number(number: str | None, country: str | None = None) -> str | None:
    """Return a number as the integration writes it: its key, else as NGUC sent it.

    ``0701234567`` is written ``+46701234567``, ``101`` stays ``101``; a
    text without digits (``anonymous``) is written as it came.
    """
    if number is None:
        return None
    return number_key(number, country) or (number.strip() or None)
