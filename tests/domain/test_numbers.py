"""Phone numbers read and shown by ``phonenumbers`` (issue 16, R-2.6, R-1.13): every form a
caller ID or a person writes comes to the same stored digits, for every country, and a page
shows a number one way, national for the centre's own country, international elsewhere."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from domain.numbers import NumberError, display_number, national_forms, normalise_number

# Every calling code a country uses, and for each country phonenumbers knows its example
# mobile and fixed-line numbers.
CALLING_CODES = sorted(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
EXAMPLES = [
    (region, kind, number)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
]


@pytest.mark.parametrize(
    ("raw", "prefix", "digits"),
    [
        # Czech Republic: no trunk prefix; a stray leading 0 is forgiven.
        ("777 123 456", "420", "420777123456"),
        ("+420 777 123 456", "420", "420777123456"),
        ("00420 777 123 456", "420", "420777123456"),
        ("420777123456", "420", "420777123456"),
        ("(+420) 777-123-456", "420", "420777123456"),
        ("0777 123 456", "420", "420777123456"),
        # Slovakia, from a Czech line and a Slovak one (trunk prefix 0).
        ("+421 903 123 456", "420", "421903123456"),
        ("00421903123456", "420", "421903123456"),
        ("421903123456", "420", "421903123456"),  # a Slovak caller ID without its "+"
        ("0903 123 456", "421", "421903123456"),
        ("903 123 456", "421", "421903123456"),
        # Germany and Austria: area codes of several lengths behind a trunk 0.
        ("030 1234567", "49", "49301234567"),
        ("+49 (0)30 1234567", "420", "49301234567"),
        ("0660 1234567", "43", "436601234567"),
        # Poland, the United Kingdom, France, Ukraine.
        ("512 345 678", "48", "48512345678"),
        ("020 7946 0958", "44", "442079460958"),
        ("+44 7400 123456", "420", "447400123456"),
        ("01 23 45 67 89", "33", "33123456789"),
        ("050 123 4567", "380", "380501234567"),
        # North America: the international call prefix is 011, not 00.
        ("(212) 555-0100", "1", "12125550100"),
        ("011 420 777 123 456", "1", "420777123456"),
        # A short internal number: no country's valid number, kept as the line's own.
        ("101", "420", "420101"),
    ],
)
def test_every_written_form_reads_to_the_stored_digits(raw: str, prefix: str, digits: str) -> None:
    assert normalise_number(raw, prefix) == digits


@pytest.mark.parametrize(
    ("region", "kind", "number"),
    EXAMPLES,
    ids=[f"{region}-{kind}" for region, kind, _ in EXAMPLES],
)
def test_every_countrys_numbers_read_alike_from_home_and_abroad(
    region: str, kind: int, number: phonenumbers.PhoneNumber
) -> None:
    """A caller from any country: their number written nationally on a line of their
    country, internationally, with ``00`` or ``+`` on a Czech or an American line."""
    digits = phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
    home = str(number.country_code)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    assert normalise_number(national, home) == digits
    assert normalise_number(international, "420") == digits
    assert normalise_number("00" + digits, "420") == digits
    assert normalise_number("+" + digits, "1") == digits
    # Pages: international with "+" in a centre of another country, national at home.
    elsewhere = "420" if home != "420" else "421"
    assert display_number("+" + digits, elsewhere) == international
    if phonenumbers.region_code_for_country_code(number.country_code) == region:
        assert display_number("+" + digits, home) == national
        assert display_number(national, home) == national


@pytest.mark.parametrize(
    ("raw", "centre", "shown"),
    [
        ("420777123456", "420", "777 123 456"),
        ("+420777123456", "420", "777 123 456"),
        ("777123456", "420", "777 123 456"),
        ("00421903123456", "420", "+421 903 123 456"),
        ("+49301234567", "420", "+49 30 1234567"),
        ("+420777123456", "421", "+420 777 123 456"),
        ("0903123456", "421", "0903 123 456"),
        ("+12125550100", "1", "(212) 555-0100"),
        ("+420777123456", "1", "+420 777 123 456"),
        # Not a phone number: shown as written.
        ("101", "420", "101"),
        ("anonymous", "420", "anonymous"),
        ("", "420", ""),
    ],
)
def test_a_number_is_shown_one_way_by_the_centres_country(
    raw: str, centre: str, shown: str
) -> None:
    assert display_number(raw, centre) == shown


def test_national_forms_are_what_a_home_caller_id_carries() -> None:
    assert national_forms("420777123456") == {"777123456", "0777123456"}
    assert national_forms("49301234567") == {"301234567", "0301234567"}


@pytest.mark.parametrize("raw", ["", "   ", "+", "ask reception", "00", "+ -", "+999 123 456"])
def test_a_text_that_is_no_number_is_refused(raw: str) -> None:
    with pytest.raises(NumberError):
        normalise_number(raw, "420")


def test_a_bad_prefix_and_an_overlong_number_are_refused() -> None:
    for prefix in ("", "0420", "4200", "+420", "999", "42a"):
        with pytest.raises(NumberError):
            normalise_number("777123456", prefix)
    with pytest.raises(NumberError, match="more than 15 digits"):
        normalise_number("+420 777 123 456 777 12", "420")


_prefix = st.sampled_from(CALLING_CODES)


@given(st.text(max_size=30), _prefix)
def test_normalised_digits_are_digits_and_stable_under_plus(raw: str, prefix: str) -> None:
    try:
        digits = normalise_number(raw, prefix)
    except ValueError:
        return
    assert digits.isdigit() and 1 <= len(digits) <= 15
    assert normalise_number("+" + digits, prefix) == digits
    # only the digits and a leading '+' matter, not what separates them
    plus = "+" if raw.strip().startswith("+") else ""
    bare = plus + "".join(ch for ch in raw if "0" <= ch <= "9")
    assert normalise_number(bare, prefix) == digits


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=20), _prefix)
def test_text_without_digits_is_refused(raw: str, prefix: str) -> None:
    if any("0" <= ch <= "9" for ch in raw):
        return
    with pytest.raises(ValueError):
        normalise_number(raw, prefix)
