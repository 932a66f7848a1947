"""Malformed files never escape as anything but a clear import error, and never write a row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from credit.db import make_engine, make_sessionmaker
from credit.directory import Enterprises
from credit.errors import ImportFileError
from credit.importing import ImportRejected, run_import
from credit.models import Enterprise
from credit.records import Records
from migrations import alembic_config

HEADER = ["uscc", "name", "entity_type", "registered_on", "status", "district_code", "industry_code", "key_supervision"]
GOOD = ["91500106000000001" + "4", "重庆企业有限公司", "企业", "2015-03-01", "存续", "500106", "F5211", "否"]
cells = st.one_of(
    st.sampled_from(GOOD + ["", " ", "=1+1", "2015-02-30", "9" * 300, "企业;个体工商户", "'", '"']),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
    yield make_sessionmaker(engine)
    engine.dispose()


def attempt(sessions, path: Path, directory=Enterprises) -> None:
    session = sessions()
    try:
        with session.begin():
            run_import(session, directory, path, parallel=False)
            raise _Undo  # keep the shared database empty between examples
    except (ImportRejected, ImportFileError, _Undo):
        pass
    finally:
        session.close()
    with sessions() as check:
        assert check.scalar(select(func.count()).select_from(Enterprise)) == 0


class _Undo(Exception):
    pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=10), min_size=0, max_size=8))
def test_random_cells_give_clean_errors(sessions, tmp_path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = tmp_path / "fuzz.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    attempt(sessions, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_random_bytes_give_clean_errors(sessions, tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(b"uscc,kind,occurred_on,department\n" + data if suffix == ".csv" else data)
    attempt(sessions, path, Records)
