"""Mobile numbers and masking."""

import pytest

from console.rules.masking import mask_id_number, mask_mobile, mask_name
from console.rules.mobile import InvalidMobile, normalize_mobile


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        " 138 1234 5678 ",
        "138-1234-5678",
        "+8613812345678",
        "008613812345678",
        "+86 138 1234 5678",
        "8613812345678",
    ],
)
def test_mobile_variants_normalize(raw: str) -> None:
    assert normalize_mobile(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12812345678",
        "1381234567",
        "138123456789",
        "0943-8222115",
        "13٨12345678",  # an Arabic-Indic eight, which NFKC keeps
    ],
)
def test_invalid_mobiles_rejected(raw: str) -> None:
    with pytest.raises(InvalidMobile):
        normalize_mobile(raw)


def test_mask_id_number_keeps_division_and_tail() -> None:
    assert mask_id_number("62040219860312101X") == "620402********101X"


def test_mask_mobile_keeps_prefix_and_tail() -> None:
    assert mask_mobile("13812345678") == "138****5678"


def test_mask_name_keeps_first_character() -> None:
    assert mask_name("王子涵") == "王**"
    assert mask_id_number("") == ""
