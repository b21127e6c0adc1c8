"""Bulk INSERT of many rows with one executemany and little per-row work.

SQLAlchemy Core builds and processes a parameter dict per row, which costs more
than the database insert itself at import sizes. Here the statement is written
once, each column's bind processor is looked up once, and rows become tuples
with the values processed as Core would process them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def insert_many(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows`, each completed by `constants`, into `table` in the session.

    Every key must be a column of `table`. Drivers with named parameters
    (psycopg) and rows of differing keys go through a Core executemany instead.
    """
    if not rows:
        return
    constants = dict(constants or {})
    connection = session.connection()
    dialect = connection.dialect
    first_keys = rows[0].keys()
    marker = _MARKERS.get(dialect.paramstyle)
    if marker is None or any(row.keys() != first_keys for row in rows):
        connection.execute(insert(table), [{**row, **constants} for row in rows])
        return

    keys = list(first_keys)
    # Columns left out get their Python-side default, as Core would give them.
    for column in table.c:
        if column.key in first_keys or column.key in constants:
            continue
        default = column.default
        if default is None:
            continue
        if not default.is_scalar:  # a callable or SQL default, evaluated per row
            connection.execute(insert(table), [{**row, **constants} for row in rows])
            return
        constants[column.key] = default.arg  # type: ignore[attr-defined]
    columns = [table.c[key] for key in (*keys, *constants)]
    preparer = dialect.identifier_preparer
    statement = (
        f"INSERT INTO {preparer.format_table(table)} "
        f"({', '.join(preparer.format_column(column) for column in columns)}) "
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    processors = [
        column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns
    ]
    constant_values = [
        process(value) if process else value
        for process, value in zip(
            processors[len(keys) :], constants.values(), strict=True
        )
    ]
    processed = [
        (index, process, process(None) is None)
        for index, process in enumerate(processors[: len(keys)])
        if process is not None
    ]
    values_of = itemgetter(*keys)
    parameters = []
    for row in rows:
        line = list(values_of(row)) if len(keys) > 1 else [values_of(row)]
        for index, process, keeps_none in processed:
            value = line[index]
            if value is not None or not keeps_none:
                line[index] = process(value)
        line.extend(constant_values)
        parameters.append(tuple(line))
    connection.exec_driver_sql(statement, parameters)


# Placeholders of the positional parameter styles (PEP 249) that this path writes.
_MARKERS = {"qmark": "?", "format": "%s"}
