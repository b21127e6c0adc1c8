"""Masking of personal numbers shown to staff whose role does not allow the full value."""

from __future__ import annotations


def mask_id_number(value: str | None) -> str:
    """Keep the 6-digit division code and the last four characters: 620402********123X."""
    if not value:
        return ""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_mobile(value: str | None) -> str:
    """Keep the first three and last four digits: 138****5678."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """Keep the first character of a name: 王**."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)
