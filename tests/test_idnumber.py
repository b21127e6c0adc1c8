"""Resident identity number rules."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.rules.idnumber import (
    CHECK_CHARACTERS,
    WEIGHTS,
    InvalidIdNumber,
    age_on,
    check_character,
    is_valid_id_number,
    make_id_number,
    parse_id_number,
)

# Made-up numbers with correct check characters (from the sample export).
VALID = [
    "620402201812151711",
    "62040219860312101X",
    "620402195606220028",
    "62040220191103596X",
]


@pytest.mark.parametrize("value", VALID)
def test_valid_numbers_parse(value: str) -> None:
    assert parse_id_number(value).value == value


def test_check_character_of_known_number() -> None:
    assert check_character("62040219860312101") == "X"
    assert check_character("62040220181215171") == "1"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_matches_weighted_sum(first17: str) -> None:
    total = sum(
        int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True)
    )
    assert check_character(first17) == CHECK_CHARACTERS[total % 11]


def test_check_character_of_full_width_digits() -> None:
    assert check_character("６２０４０２１９８６０３１２１０１") == "X"


def test_check_character_covers_every_remainder() -> None:
    seen = set()
    for sequence in range(200):
        number = make_id_number("620402", date(2018, 12, 15), sequence)
        seen.add(number[-1])
        assert is_valid_id_number(number)
    assert seen == set("0123456789X")


def test_trailing_lowercase_x_is_upper_cased() -> None:
    assert parse_id_number("62040219860312101x").value == "62040219860312101X"


def test_wrong_check_character_names_the_right_one() -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number("620402201812151712")
    assert "末位应为1" in caught.value.reason


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("62040220181215171", "18位"),
        ("6204022018121517111", "18位"),
        ("62040220181215171A", "末位应为数字或X"),
        ("6204022018121517X1", "前17位应为数字"),
        ("620402201802301711", "不存在"),
        ("620402180012151711", "不合理"),
    ],
)
def test_malformed_numbers_rejected(value: str, fragment: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(value)
    assert fragment in caught.value.reason


def test_digits_of_other_scripts_rejected() -> None:
    """NFKC leaves Arabic-Indic digits as they are, and they are not 0-9."""
    arabic_indic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    assert make_id_number("620402", date(2018, 10, 1), 0) == "62040220181001000X"
    value = "62040220181001000".translate(arabic_indic) + "X"
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(value)
    assert "前17位应为数字" in caught.value.reason


def test_unknown_division_rejected_against_known_set() -> None:
    number = make_id_number("620499", date(2018, 1, 1), 11)
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(number, known_divisions={"620402"})
    assert "620499" in caught.value.reason


def test_unknown_province_rejected_without_known_set() -> None:
    number = make_id_number("990402", date(2018, 1, 1), 11)
    with pytest.raises(InvalidIdNumber):
        parse_id_number(number)


def test_future_birth_date_rejected() -> None:
    number = make_id_number("620402", date(2030, 1, 1), 11)
    with pytest.raises(InvalidIdNumber):
        parse_id_number(number, today=date(2025, 7, 1))


def test_gender_from_seventeenth_digit() -> None:
    assert (
        parse_id_number(make_id_number("620402", date(2018, 1, 1), 11)).gender == "男"
    )
    assert (
        parse_id_number(make_id_number("620402", date(2018, 1, 1), 12)).gender == "女"
    )


def test_fields_of_parsed_number() -> None:
    parsed = parse_id_number("620402201812151711")
    assert parsed.division_code == "620402"
    assert parsed.birth_date == date(2018, 12, 15)
    assert parsed.sequence == "171"


@pytest.mark.parametrize(
    ("birth", "day", "expected"),
    [
        (date(2019, 8, 31), date(2025, 8, 31), 6),  # the birthday itself counts
        (date(2019, 9, 1), date(2025, 8, 31), 5),
        (date(2018, 2, 28), date(2025, 8, 31), 7),
        (date(2020, 2, 29), date(2024, 2, 28), 3),
        (date(2020, 2, 29), date(2024, 2, 29), 4),
    ],
)
def test_age_on_cutoff(birth: date, day: date, expected: int) -> None:
    assert age_on(birth, day) == expected


def test_make_id_number_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        make_id_number("6204", date(2018, 1, 1), 1)
    with pytest.raises(ValueError):
        make_id_number("620402", date(2018, 1, 1), 1000)
