"""The facts an assignment was solved from, as one canonical, compressed text stored with the run.
Pure.

Leave, certificates, conflicts and the inspector roster keep changing after an assignment;
`task verify` re-solves from this record (and checks its hash), so an auditor reproduces the
teams from what the solver actually saw, not from today's directories.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

from inspection.eligibility import InspectorFacts, ItemFacts, VisitFacts
from inspection.staffing import Params

VERSION = 1


def pack(visits: Sequence[VisitFacts], ranks: Sequence[int], inspectors: Sequence[InspectorFacts], params: Params) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8), zlib-compressed."""
    body: dict[str, Any] = {
        "version": VERSION,
        "params": {
            "team_size": params.team_size, "per_day": params.per_day, "per_task": params.per_task,
            "cross_station": params.cross_station, "lead": params.lead,
            "days": [d.isoformat() for d in params.days], "cooperation": [list(g) for g in params.cooperation],
        },
        "visits": [
            [v.id, rank, v.uscc, v.district, v.station, v.day.isoformat(),
             {d: [[i.code, i.category] for i in items] for d, items in sorted(v.items.items())}, sorted(v.previous)]
            for v, rank in zip(visits, ranks)
        ],
        "inspectors": [
            [i.id, i.number, i.department, i.district, i.station, i.active,
             i.certificate_expires.isoformat() if i.certificate_expires else None,
             [[a.isoformat(), b.isoformat()] for a, b in i.leave], sorted(i.qualifications), sorted(i.conflicts)]
            for i in inspectors
        ],
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return zlib.compress(text, 6)


def digest(packed: bytes) -> str:
    """SHA-256 of the uncompressed text (compression levels may differ; the facts may not)."""
    return hashlib.sha256(zlib.decompress(packed)).hexdigest()


def unpack(packed: bytes) -> tuple[list[VisitFacts], list[int], list[InspectorFacts], Params]:
    body = json.loads(zlib.decompress(packed))
    if body.get("version") != VERSION:
        raise ValueError(f"assignment inputs of version {body.get('version')!r}; this build reads version {VERSION}")
    p = body["params"]
    params = Params(p["team_size"], p["per_day"], p["per_task"], p["cross_station"], p["lead"],
                    tuple(dt.date.fromisoformat(d) for d in p["days"]), tuple(tuple(g) for g in p["cooperation"]))
    visits, ranks = [], []
    for vid, rank, uscc, district, station, day, items, previous in body["visits"]:
        visits.append(VisitFacts(vid, uscc, district, station, dt.date.fromisoformat(day),
                                 {d: tuple(ItemFacts(c, cat) for c, cat in its) for d, its in items.items()}, frozenset(previous)))
        ranks.append(rank)
    inspectors = [
        InspectorFacts(iid, department, district, station, active, dt.date.fromisoformat(cert) if cert else None,
                       tuple((dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in leave),
                       frozenset(quals), frozenset(conflicts), number)
        for iid, number, department, district, station, active, cert, leave, quals, conflicts in body["inspectors"]
    ]
    return visits, ranks, inspectors, params
