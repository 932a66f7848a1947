"""Alembic migrations, shipped inside the package so an installed copy can migrate."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Connection

HERE = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An alembic ``Config`` for this package's scripts, bound to a connection or a URL."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url is not None:
        # ConfigParser interpolation would eat a "%" in a password.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg
