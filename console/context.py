"""Shared state of one CLI or TUI invocation: the engine and the operator."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.engine import Engine

from console.db import make_engine, resolve_url


@dataclass
class AppContext:
    db_url: str | None = None
    operator: str = field(
        default_factory=lambda: (
            os.environ.get("ADMISSIONS_OPERATOR") or getpass.getuser()
        )
    )

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.db_url)

    @property
    def resolved_url(self) -> str:
        return resolve_url(self.db_url)
