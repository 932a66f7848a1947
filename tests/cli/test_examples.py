"""The shipped sample directories load cleanly, in the README's order, and re-import unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORDER = ("departments", "items", "enterprises", "records", "inspectors")


def test_examples_load_and_reload_unchanged(env: Env) -> None:
    first = {kind: env.json("import", kind, str(EXAMPLES / f"{kind}.csv")) for kind in ORDER}
    assert all(c["rejected"] == 0 and c["updated"] == 0 and c["unchanged"] == 0 for c in first.values())
    assert first["enterprises"]["inserted"] == 300
    assert first["departments"]["inserted"] == 3
    assert first["inspectors"]["inserted"] == 60
    assert first["items"]["inserted"] == 10
    for kind in ORDER:
        again = env.json("import", kind, str(EXAMPLES / f"{kind}.csv"))
        assert again == {"inserted": 0, "updated": 0, "unchanged": first[kind]["inserted"], "rejected": 0}
    districts = json.loads(env.run("export", "districts", str(env.tmp / "d.csv"), "--json").stdout)
    assert districts == {"rows": 38}
