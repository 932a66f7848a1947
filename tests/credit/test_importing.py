"""The import loop: the forked parsing process gives exactly what in-process parsing gives."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from credit.db import make_engine, make_sessionmaker
from credit.directory import Departments, Enterprises
from credit.errors import ImportFileError
from credit import audit
from credit.importing import ImportRejected, run_import
from credit.roles import Actor, Role
from credit.models import Enterprise
from credit.tabular import write_table
from migrations import alembic_config


@pytest.fixture
def sessions(database_url: str):
    from alembic import command

    engine = make_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
    factory = make_sessionmaker(engine)
    factory.configure(info={audit.ACTOR: Actor("planner", Role.PLANNER)})  # the audit trail's acting user
    yield factory
    engine.dispose()


def write_enterprises(path: Path, make_uscc, count: int, bad_rows: set[int] = frozenset()) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["uscc", "name", "entity_type", "registered_on", "status", "district_code", "industry_code"])
        for i in range(count):
            code = "91500106000000001X" if i in bad_rows else make_uscc(i)
            writer.writerow([code, f"重庆企业{i}有限公司", "企业", "2015-03-01", "存续", "500106", "F5211"])
    return path


class TestParallelParsing:
    @pytest.mark.parametrize("parallel", [False, True])
    def test_same_counts_either_way(self, sessions, tmp_path: Path, make_uscc, parallel: bool) -> None:
        """5,000 rows over several batches load the same through the child process as in process."""
        path = write_enterprises(tmp_path / "e.csv", make_uscc, 5000)
        with sessions.begin() as session:
            report = run_import(session, Enterprises, path, parallel=parallel)
        assert report.counts() == {"inserted": 5000, "updated": 0, "unchanged": 0, "rejected": 0}
        with sessions.begin() as session:
            assert session.scalar(select(func.count()).select_from(Enterprise)) == 5000
            assert run_import(session, Enterprises, path, parallel=not parallel).unchanged == 5000

    def test_rejections_keep_their_rows_through_the_child(self, sessions, tmp_path: Path, make_uscc) -> None:
        path = write_enterprises(tmp_path / "e.csv", make_uscc, 4500, bad_rows={10, 4321})
        results = {}
        for parallel in (False, True):
            with pytest.raises(ImportRejected) as caught, sessions.begin() as session:
                run_import(session, Enterprises, path, parallel=parallel)
            results[parallel] = [(r.row, r.problems) for r in caught.value.report.rejections]
        assert results[True] == results[False]
        assert [row for row, _ in results[True]] == [12, 4323]
        with sessions.begin() as session:
            assert session.scalar(select(func.count()).select_from(Enterprise)) == 0

    def test_a_file_error_in_the_child_reaches_the_parent(self, sessions, tmp_path: Path) -> None:
        """A CSV broken mid-file raises the same ImportFileError from the child process."""
        path = tmp_path / "d.csv"
        path.write_text('code,name\nA,"unterminated\n', encoding="utf-8")
        for parallel in (False, True):
            with pytest.raises(ImportFileError, match="not readable CSV"), sessions.begin() as session:
                run_import(session, Departments, path, parallel=parallel)


class TestStagedInserts:
    def test_staged_rows_read_back_typed_and_in_file_order(self, sessions, tmp_path: Path, make_uscc) -> None:
        """Batches of 200+ rows go through a SQLite staging table: ids follow the file, types survive."""
        path = write_enterprises(tmp_path / "e.csv", make_uscc, 450)
        with sessions.begin() as session:
            run_import(session, Enterprises, path, parallel=False)
        with sessions.begin() as session:
            rows = session.execute(select(Enterprise.source_row, Enterprise.registered_on, Enterprise.entity_type, Enterprise.key_supervision).order_by(Enterprise.id)).all()
        assert [r.source_row for r in rows] == list(range(2, 452))
        first = rows[0]
        assert first.registered_on.isoformat() == "2015-03-01"
        assert first.entity_type.label == "企业" and first.key_supervision is False
        out = tmp_path / "out.csv"
        with sessions.begin() as session:
            directory = Enterprises(session, None, dt.date.today())
            write_table(out, directory.export_header(directory.columns(), english=True), directory.export_rows())
        with sessions.begin() as session:
            assert run_import(session, Enterprises, out, parallel=False).unchanged == 450


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("parallel", [False, True])
def test_the_import_records_the_files_sha256_and_reads_it_in_its_encoding(sessions, tmp_path: Path, encoding: str, parallel: bool) -> None:
    """The encoding is found by a pass that also hashes the file (UTF-8), or the file is hashed on
    its own (GB18030); the parsing process reads it in the encoding found, not detecting it again."""
    import hashlib

    from credit.models import Department, ImportRun

    path = tmp_path / "d.csv"
    path.write_text("code,name\n" + "".join(f"D{i},重庆市第{i}部门\n" for i in range(300)), encoding=encoding)
    with sessions.begin() as session:
        report = run_import(session, Departments, path, parallel=parallel)
    with sessions.begin() as session:
        assert session.get(ImportRun, report.import_id).file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert session.scalar(select(Department.name).where(Department.code == "D7")) == "重庆市第7部门"
    assert report.encoding == encoding
