#!/usr/bin/env python3
"""The floor of a records (and enterprises) import on SQLite: what the database alone costs to store the rows.

Given a database that ``bench/import.py`` loaded (``--db``), this copies its schema, its
enterprises and its imports into a scratch file, reads every credit record and the trail's packs
of them back into Python lists (untimed), then times, in one transaction each, as the import
stores them:

1. ``credit_records``: the rows as they are, through ``executemany``, with the foreign keys,
   CHECKs and indexes the schema has;
2. ``audit_packs``: the trail's share, the records' keys and hashes, 4,096 a pack;
3. the same rows into a bare table without a constraint or an index (binding alone);
4. before them, ``enterprises``: the first million, the same way, into the empty table (its
   unique USCC index takes each new code at a random place).

No parsing, no checks, no hashing: a ceiling no import can pass on this machine. Records
per second go to stdout (``--json`` for machines).

Example::

    .venv/bin/python bench/import_floor.py --db /tmp/importbench/bench.db
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

BATCH = 2000  # rows per executemany, as an import's batch
LIMIT = 1_000_000  # records held in memory for the timing: 10M would need about 10 GB


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, required=True, help="a SQLite database with records imported (bench/import.py --keep DIR: DIR/bench.db)")
    p.add_argument("--limit", type=int, default=LIMIT, help=f"time the first N records (default {LIMIT:,}; "
                   "a larger table's indexes cost more, so the floor of a bigger import is lower still)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p.parse_args(argv)


def _connect(path: Path) -> sqlite3.Connection:
    # The pragmas spotcheck sets on its connections (credit/db.py) and for a bulk load.
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "cache_size=-524288"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _timed(db: sqlite3.Connection, sql: str, rows: list[tuple]) -> float:
    db.execute("BEGIN")
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        db.executemany(sql, rows[start:start + BATCH])
    db.execute("COMMIT")
    return time.perf_counter() - started


def floor(source: Path, limit: int = LIMIT) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="spotcheck-floor-") as tmp:
        scratch = Path(tmp) / "floor.db"
        db = _connect(scratch)
        db.execute("ATTACH DATABASE ? AS src", (str(source),))
        tables = [name for (name,) in db.execute("SELECT name FROM src.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for (sql,) in db.execute("SELECT sql FROM src.sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'").fetchall():
            db.execute(sql)
        db.execute("BEGIN")
        for table in ("districts", "departments", "imports", "audit_events"):
            if table in tables:
                db.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table}")
        db.execute("COMMIT")
        firms = db.execute("SELECT * FROM src.enterprises ORDER BY id").fetchall()
        firm_marks = ", ".join("?" * (len(firms[0]) if firms else 1))
        # Every enterprise (the records refer to them), the time of the first million kept.
        enterprises = _timed(db, f"INSERT INTO enterprises VALUES ({firm_marks})", firms[:limit]) if firms else 0.0
        _timed(db, f"INSERT INTO enterprises VALUES ({firm_marks})", firms[limit:])
        firms = firms[:limit]
        columns = [name for _, name, *_ in db.execute("PRAGMA src.table_info(credit_records)")]
        records = db.execute(f"SELECT {', '.join(columns)} FROM src.credit_records ORDER BY id LIMIT ?", (limit,)).fetchall()
        top = records[-1][columns.index("id")] if records else 0
        trail = db.execute("SELECT event_id, seq, tbl, lo, hi, rows, keys, hashes FROM src.audit_packs WHERE tbl = 'credit_records' "
                           "AND hi <= ?", (top,)).fetchall()
        db.execute("DETACH DATABASE src")
        names, marks = ", ".join(columns), ", ".join("?" * len(columns))
        stored = _timed(db, f"INSERT INTO credit_records ({names}) VALUES ({marks})", records)
        trailed = _timed(db, "INSERT INTO audit_packs (event_id, seq, tbl, lo, hi, rows, keys, hashes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", trail)
        packed = sum(row[5] for row in trail)
        db.execute(f"CREATE TABLE bare AS SELECT {names} FROM credit_records WHERE 0")
        bare = _timed(db, f"INSERT INTO bare ({names}) VALUES ({marks})", records)
        db.close()
    n = len(records)
    both = stored + trailed
    return {
        "records": n, "audit_packs": len(trail), "packed_rows": packed,
        "credit_records_s": round(stored, 3), "audit_packs_s": round(trailed, 3), "bare_table_s": round(bare, 3),
        "records_per_s": round(n / stored), "records_with_trail_per_s": round(n / both), "bare_rows_per_s": round(n / bare),
        "us_per_record": round(stored / n * 1e6, 2), "us_per_trail_row": round(trailed / max(packed, 1) * 1e6, 3),
        "enterprises": len(firms), "enterprises_s": round(enterprises, 3),
        "enterprises_per_s": round(len(firms) / enterprises) if enterprises else 0,
        "us_per_enterprise": round(enterprises / max(len(firms), 1) * 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.db.exists():
        print(f"error: no database at {args.db}", file=sys.stderr)
        return 2
    result = floor(args.db, args.limit)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"floor of a records import on SQLite ({result['records']:,} records; {result['packed_rows']:,} of them "
          f"in {result['audit_packs']:,} audit packs)")
    print(f"  credit_records with its keys, checks and indexes: {result['credit_records_s']:.2f} s, "
          f"{result['records_per_s']:,} rows/s ({result['us_per_record']} µs a row)")
    print(f"  audit_packs, their keys and hashes: {result['audit_packs_s']:.2f} s ({result['us_per_trail_row']} µs a record)")
    print(f"  both: {result['records_with_trail_per_s']:,} records/s, before any parsing, checking or hashing")
    print(f"  a bare table (binding alone): {result['bare_table_s']:.2f} s, {result['bare_rows_per_s']:,} rows/s")
    print(f"  enterprises ({result['enterprises']:,}) with their keys, checks and indexes: {result['enterprises_s']:.2f} s, "
          f"{result['enterprises_per_s']:,} rows/s ({result['us_per_enterprise']} µs a row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
