"""`python -m simulator serve --registry FILE --port P [fault options]`."""

from __future__ import annotations

import logging
import sys

import click

from simulator.server import serve_command


@click.group()
def main() -> None:
    """招生演练模拟器。"""
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


main.add_command(serve_command)

if __name__ == "__main__":
    main(prog_name="python -m simulator")
