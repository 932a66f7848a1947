"""Declarative base, naming convention, engines and sessions shared by every model."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, DateTime, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from credit.labels import Labeled

# Every constraint gets a predictable name, so SQLite batch migrations can drop and
# recreate them (alembic docs, naming.rst).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DEFAULT_DATABASE_URL = "sqlite:///spotcheck.db"


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp on every database: SQLite keeps no offset, so what comes back
    from it is read as the UTC it was written in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    """Base of every ORM class; enums are stored by value, not by name."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # 64-bit ids on PostgreSQL; on SQLite only "INTEGER PRIMARY KEY" is the auto-numbered rowid.
    type_annotation_map: dict[Any, Any] = {
        int: BigInteger().with_variant(Integer(), "sqlite"),
        dt.datetime: UTCDateTime(),
    }


def utcnow() -> dt.datetime:
    """Timezone-aware now, for audit columns."""
    return dt.datetime.now(dt.UTC)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers work during an import.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for a SQLAlchemy URL; SQLite gets foreign keys and WAL."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def tune_for_bulk(session: Session) -> None:
    """Give SQLite a larger page cache for a long import; a bounded cost, not one per row."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # 512 MiB: keeps the record indexes of a ten-million-row directory in memory. The temp
        # schema (in-file duplicate keys) has a cache of its own, 2 MiB unless raised.
        connection.exec_driver_sql("PRAGMA cache_size=-524288")
        connection.exec_driver_sql("PRAGMA temp.cache_size=-131072")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """A session factory bound to ``engine``; callers own each session's lifecycle."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def enum_type(enum_cls: type[Labeled]) -> sa.Enum:
    """A portable column type for ``enum_cls``: a VARCHAR; pair it with :func:`one_of`."""
    return sa.Enum(
        enum_cls,
        name=enum_cls.__name__.lower(),
        native_enum=False,
        # The type's own CHECK is an IN list, which SQLite evaluates by building a temporary
        # index for every inserted row: 2.5 µs per enum column per row, measured, a quarter of
        # a record import's database time. one_of() states the same rule as an OR chain.
        create_constraint=False,
        # Room to grow: a new member must not need a column change.
        length=32,
        values_callable=lambda cls: [m.value for m in cls],
        validate_strings=True,
    )


def one_of(column: str, enum_cls: type[Labeled]) -> sa.CheckConstraint:
    """CHECK that ``column`` holds a value of ``enum_cls`` (or NULL), named after the enum."""
    members = " OR ".join(f"{column} = '{member.value}'" for member in enum_cls)
    return sa.CheckConstraint(members, name=enum_cls.__name__.lower())
