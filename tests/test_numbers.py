"""Phone numbers in E.164: the spellings people and PBXs use compare equal."""

from __future__ import annotations

import pytest

from custom_components.weblink_nguc.numbers import display_number, number_key, to_e164


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


@pytest.mark.parametrize(
    "number",
    [
        "0701234567",  # national, with the trunk prefix
        "070-123 45 67",
        "070 123 45 67",
        "(070) 123 45 67",
        "+46701234567",  # E.164
        "+46 (0)70 123 45 67",  # the trunk prefix in brackets is not dialled
        "0046701234567",  # the international prefix
        "46701234567",  # international without + (issue 18, case 9)
        '"Room 12" <0701234567>',  # a display name (case 9)
        "Room 12 <+46701234567>",
        '"Anna" <sip:0701234567@pbx.example;user=phone>',
        "sip:+46701234567@pbx.example",
        "tel:+46-70-123-45-67",
    ],
)
def test_every_spelling_is_one_key(number: str) -> None:
    """Whatever spelling NGUC sends, a number compares as one key."""
    assert number_key(number) == "+46701234567"
    assert display_number(number) == "+46701234567"


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("101", "101"),  # an extension: its digits
        (" 101 ", "101"),
        ("<101>", "101"),
        ('"Reception" <101>', "101"),
        ("sip:101@pbx.example", "101"),
        # An extension dialled after a number stays part of it.
        ("+46812345600;ext=12", "+46812345600;ext=12"),
        ("08-123 456 00 ext. 12", "+46812345600;ext=12"),
        ("0812345600 x12", "+46812345600;ext=12"),
        ("<sip:0812345600;ext=12@pbx>", "+46812345600;ext=12"),
    ],
)
def test_extensions(number: str, key: str) -> None:
    assert number_key(number) == key


def test_display_names_do_not_lend_their_digits() -> None:
    """ "Room 12" once made the digits 120701234567 (case 9)."""
    assert number_key('"Room 12" <0701234567>') != "120701234567"
    assert to_e164('"Room 12" <0701234567>') == "+46701234567"
    assert number_key('"Room 12" 0701234567') == "+46701234567"


def test_international_without_plus_only_where_it_cannot_be_national() -> None:
    # In Sweden national numbers start with 0: any other long number is
    # international; a short one is an extension.
    assert number_key("4722123456") == "+4722123456"
    assert number_key("12345") == "12345"
    # In Norway an 8-digit number is national; with the calling code first,
    # international without +.
    assert number_key("22123456", "NO") == "+4722123456"
    assert number_key("4722123456", "NO") == "+4722123456"
    # In the US, ten digits without the 1 are national, not international.
    assert to_e164("3125550100", "US") is None


@pytest.mark.parametrize("number", ["anonymous", "", "+", None])
def test_no_number(number: str | None) -> None:
    assert number_key(number) is None


def test_display_number_keeps_what_has_no_digits() -> None:
    assert display_number("anonymous") == "anonymous"
    assert display_number(None) is None
    assert display_number("0701234567", "SE") == "+46701234567"
