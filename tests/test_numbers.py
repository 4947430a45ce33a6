"""Phone numbers in E.164: the spellings people and PBXs use compare equal."""

from __future__ import annotations

import pytest

from custom_components.weblink_nguc.numbers import number_key, to_e164


@pytest.mark.parametrize(
    "number",
    [
        "0701234567",
        "070-123 45 67",
        "+46701234567",
        "+46 70 123 45 67",
        "0046701234567",
        "00 46 70 123 45 67",
    ],
)
def test_swedish_spellings_are_one_number(number: str) -> None:
    assert to_e164(number) == "+46701234567"
    assert to_e164(number, "SE") == "+46701234567"


def test_country_of_home_assistant() -> None:
    assert to_e164("030 1234567", "DE") == "+49301234567"
    assert to_e164("22 12 34 56", "NO") == "+4722123456"
    assert to_e164("(212) 555-0100", "US") is None  # no trunk prefix written
    assert to_e164("1 212 555 0100", "US") == "+12125550100"
    assert to_e164("011 46 70 123 45 67", "US") == "+46701234567"
    # A country we know nothing of: only international spellings.
    assert to_e164("0701234567", "ZZ") is None
    assert to_e164("+46701234567", "ZZ") == "+46701234567"


@pytest.mark.parametrize("number", ["101", "", None, "+", "0", "+0701234567"])
def test_no_e164_form(number: str | None) -> None:
    assert to_e164(number) is None


def test_extensions_compare_by_digits() -> None:
    assert number_key(" 101 ") == "101"
    assert number_key("0701234567") == number_key("+46 70 123 45 67")
    assert number_key(None) is None
    assert number_key("anonymous") is None
