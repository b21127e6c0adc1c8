"""Repeatable lottery: seed and lottery numbers derived with SHA-256, never `random`.

Anyone can repeat a draw with three published facts: the published value that fixes the
seed (for example the number of a public drawing announced beforehand), the list of child
tokens, and these functions. A child's token depends only on the resident ID number, so a
child who withdraws and submits again keeps the same token and the same lottery number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

TOKEN_PREFIX = "admissions-child:"


def normalize_id_number(id_number: str) -> str:
    """Return the ID number without surrounding spaces and with an upper-case check character."""
    return id_number.strip().upper()


def child_token(id_number: str) -> str:
    """Return the 20-hex-digit pseudonym of a child, published instead of the ID number."""
    digest = hashlib.sha256(
        (TOKEN_PREFIX + normalize_id_number(id_number)).encode("utf-8")
    )
    return digest.hexdigest()[:20]


def input_hash(tokens: Iterable[str]) -> str:
    """Return the SHA-256 of the sorted, de-duplicated tokens, one per line."""
    lines = "\n".join(sorted(set(tokens)))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def derive_seed(seed_source: str, list_hash: str) -> str:
    """Return the draw's seed from the published value and the hash of the input list."""
    return hashlib.sha256(f"{seed_source}\n{list_hash}".encode()).hexdigest()


def lottery_number(seed: str, token: str) -> str:
    """Return a child's lottery number of 16 hex digits. The lower number wins a tie."""
    return hashlib.sha256(f"{seed}:{token}".encode()).hexdigest()[:16]
