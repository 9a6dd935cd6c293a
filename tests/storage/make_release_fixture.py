"""Writes tests/storage/data/release_0001.json: the rows that the first release (schema revision 0001) wrote while
it ran tests/storage/data/release_0001_scenario.yaml — what test_upgrade_from_first_release.py upgrades.

The rows come from that release's own code, so they have its shapes (ticket ``data``, event kinds, outbox rows):

    git archive c3c7a74 | tar -x -C /tmp/release-0001       # the last commit whose schema was 0001
    cd /tmp/release-0001 && PYTHONPATH=. python -m bot.cli simulate \\
        $REPO/tests/storage/data/release_0001_scenario.yaml --db sqlite+aiosqlite:////tmp/release-0001.db
    python tests/storage/make_release_fixture.py /tmp/release-0001.db
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, select, text

OUT = Path(__file__).parent / "data" / "release_0001.json"


def plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def main(database: str) -> None:
    engine = create_engine(f"sqlite:///{database}")
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
        tables = {table.name: [{k: plain(v) for k, v in row._mapping.items()}
                               for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
                  for table in meta.sorted_tables if table.name != "alembic_version"}
    OUT.write_text(json.dumps({"revision": revision, "tables": tables}, ensure_ascii=False, indent=1) + "\n")
    print(f"{OUT}: revision {revision}, {sum(len(rows) for rows in tables.values())} rows")


if __name__ == "__main__":
    main(sys.argv[1])
