"""Resident identity numbers (GB 11643-1999).

An 18-character number is a 6-digit division code, an 8-digit birth date
(YYYYMMDD), a 3-digit sequence whose last digit is odd for a male, and an
ISO 7064 MOD 11-2 check character (0-9 or X).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
# Only ASCII digits match, because \d in a str pattern also matches the digits of
# other scripts. NFKC does not fold those, so such a number would be stored beside
# the ASCII one as a second child.
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


class InvalidIdNumber(ValueError):
    """An identity number that fails a check; `reason` is staff-facing Chinese text."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{value}: {reason}")
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class IdNumber:
    """A validated 18-character identity number."""

    value: str

    @property
    def division_code(self) -> str:
        return self.value[:6]

    @property
    def county_code(self) -> str:
        return self.value[:6]

    @property
    def birth_date(self) -> date:
        return date(
            int(self.value[6:10]), int(self.value[10:12]), int(self.value[12:14])
        )

    @property
    def sequence(self) -> str:
        return self.value[14:17]

    @property
    def gender(self) -> str:
        """Return "男" or "女", from the parity of the 17th digit."""
        return "男" if int(self.value[16]) % 2 == 1 else "女"

    def age_on(self, day: date) -> int:
        return age_on(self.birth_date, day)


def check_character(first17: str) -> str:
    """Compute the ISO 7064 MOD 11-2 check character for 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    if first17.isascii():
        # Fast path for ASCII digits. The weights are 2**17, 2**16, ..., 2**1
        # modulo 11, and 13 leaves 2 modulo 11, so the weighted sum leaves the
        # same remainder as twice the digits read as a base-13 number.
        total = 2 * int(first17, 13)
    else:
        total = sum(
            int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True)
        )
    return CHECK_CHARACTERS[total % 11]


def age_on(birth: date, day: date) -> int:
    """Return full years of age on `day`; the birthday itself counts."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


def make_id_number(division_code: str, birth: date, sequence: int) -> str:
    """Build a valid number; `sequence` is 0-999 and its parity sets the gender."""
    if len(division_code) != 6 or not division_code.isdigit():
        raise ValueError(f"division code must be 6 digits, got {division_code!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0-999, got {sequence}")
    first17 = f"{division_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def parse_id_number(
    raw: str,
    *,
    known_divisions: frozenset[str] | set[str] | None = None,
    today: date | None = None,
) -> IdNumber:
    """Validate a normalised number and return it, raising InvalidIdNumber with the reason.

    A trailing lowercase x is accepted and upper-cased. `known_divisions` contains the
    6-digit codes that count as valid. When it is None, only the province digits are
    checked (11-82). `today` bounds the birth date from above.
    """
    value = raw.strip().upper()
    if len(value) != 18:
        raise InvalidIdNumber(raw, f"身份证号应为18位，实际为{len(value)}位")
    if not _SHAPE.match(value):
        raise InvalidIdNumber(raw, "身份证号前17位应为数字，末位应为数字或X")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber(raw, f"身份证号中的出生日期{value[6:14]}不存在") from None
    if birth.year < 1900 or (today is not None and birth > today):
        raise InvalidIdNumber(raw, f"身份证号中的出生日期{birth:%Y-%m-%d}不合理")
    expected = check_character(value[:17])
    if value[17] != expected:
        raise InvalidIdNumber(
            raw, f"身份证号校验位错误：末位应为{expected}，请核对号码"
        )
    division = value[:6]
    if known_divisions is not None:
        if division not in known_divisions:
            raise InvalidIdNumber(raw, f"身份证号中的行政区划代码{division}不存在")
    elif not 11 <= int(division[:2]) <= 82:
        raise InvalidIdNumber(raw, f"身份证号中的省级代码{division[:2]}不存在")
    return IdNumber(value)


def is_valid_id_number(raw: str) -> bool:
    try:
        parse_id_number(raw)
    except InvalidIdNumber:
        return False
    return True
