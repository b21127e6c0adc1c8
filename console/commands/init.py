"""`admissions init`: create the schema and load reference data."""

from __future__ import annotations

import click

from console.commands.options import pass_app
from console.context import AppContext


@click.command("init")
@pass_app
def init_command(app: AppContext) -> None:
    """创建数据库表并载入区划、学校和片区基础数据。

    示例：admissions --db sqlite:///season.db init
    """
    from console.db import create_schema, session_scope
    from console.services.reference import load_reference

    app.allow_create = True
    create_schema(app.engine)
    with session_scope(app.engine) as session:
        counts = load_reference(session)
    click.echo(
        f"数据库已就绪：{app.resolved_url}；区划 {counts['divisions']} 个，"
        f"学校 {counts['schools']} 所，片区 {counts['zones']} 个。"
    )
