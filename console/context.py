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

    # Only commands that build a database (init, rehearse) may create a missing SQLite file.
    allow_create: bool = False

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.db_url, must_exist=not self.allow_create)

    @property
    def resolved_url(self) -> str:
        return resolve_url(self.db_url)
