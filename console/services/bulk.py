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
    # Constants that have an SQL literal are written into the statement once
    # instead of bound on every row; the others are bound on every row.
    literals: dict[str, str] = {}
    bound: dict[str, Any] = {}
    for key, value in constants.items():
        process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        value = process(value) if process else value
        literal = _literal(value, marker)
        if literal is None:
            bound[key] = value
        else:
            literals[key] = literal
    columns = [table.c[key] for key in (*keys, *bound, *literals)]
    preparer = dialect.identifier_preparer
    statement = (
        f"INSERT INTO {preparer.format_table(table)} "
        f"({', '.join(preparer.format_column(column) for column in columns)}) "
        f"VALUES ({', '.join([marker] * (len(keys) + len(bound)) + [*literals.values()])})"
    )
    processed = [
        (index, process, process(None) is None)
        for index, column in enumerate(columns[: len(keys)])
        if (process := column.type.dialect_impl(dialect).bind_processor(dialect))
    ]
    bound_values = list(bound.values())
    values_of = itemgetter(*keys)
    parameters = []
    for row in rows:
        line = list(values_of(row)) if len(keys) > 1 else [values_of(row)]
        for index, process, keeps_none in processed:
            value = line[index]
            if value is not None or not keeps_none:
                line[index] = process(value)
        line.extend(bound_values)
        parameters.append(tuple(line))
    connection.exec_driver_sql(statement, parameters)


def _literal(value: Any, marker: str) -> str | None:
    """Return a processed bound value as an SQL literal, or None when it has none here.

    Strings are quoted in the standard way. SQLite reads that quoting, and so
    does PostgreSQL with standard_conforming_strings, its default. Under the
    "format" parameter style a literal percent sign is doubled. A string with a
    NUL character stays bound, because sqlite3 rejects a statement that contains one.
    """
    if value is None:
        text = "NULL"
    elif isinstance(value, bool):
        return None  # databases spell booleans differently
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, str) and "\x00" not in value:
        text = "'" + value.replace("'", "''") + "'"
    else:
        return None
    return text.replace("%", "%%") if marker == "%s" else text


# Placeholders of the positional parameter styles (PEP 249) that this path writes.
_MARKERS = {"qmark": "?", "format": "%s"}
