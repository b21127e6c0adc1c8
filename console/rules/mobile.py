"""Mainland China mobile numbers: 11 digits starting 13-19."""

from __future__ import annotations

import re

# ASCII digits only, because \d also matches the digits of other scripts.
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u3000()（）]")


class InvalidMobile(ValueError):
    """A mobile number that fails a check; `reason` is staff-facing Chinese text."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{value}: {reason}")
        self.value = value
        self.reason = reason


def normalize_mobile(raw: str) -> str:
    """Return the 11-digit number, dropping +86/0086 and separators, or raise InvalidMobile."""
    value = _SEPARATORS.sub("", raw.strip())
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    elif len(value) == 13 and value.startswith("86"):
        value = value[2:]
    if not value:
        raise InvalidMobile(raw, "手机号码为空")
    if not _MOBILE.match(value):
        raise InvalidMobile(raw, "手机号码应为以13-19开头的11位数字")
    return value
