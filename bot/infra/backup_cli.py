"""`dutydesk backup` and `dutydesk restore` on the command line (bot/infra/backup.py does the work)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bot.infra import backup


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    make = sub.add_parser("backup", help="write the database and the Matrix key store to one archive")
    make.add_argument("--config")
    make.add_argument("--db", help="database URL (default: [storage] url of the config)")
    make.add_argument("--skip-database", action="store_true",
                      help="only the key store (when PostgreSQL is dumped apart, see docs/admin.md)")
    make.add_argument("out", metavar="OUT", help="the archive to write, or a directory to write a new one in")

    back = sub.add_parser("restore", help="put a backup's database and key store back (stop dutydesk first)")
    back.add_argument("--config")
    back.add_argument("--db", help="database URL (default: [storage] url of the config)")
    back.add_argument("--force", action="store_true", help="replace a database or key store that is there")
    back.add_argument("archive", metavar="ARCHIVE", help="a file written by dutydesk backup")


def run(args: argparse.Namespace) -> int:
    from bot.cli import settings_for

    settings = settings_for(args.config)
    if args.command == "backup":
        manifest = asyncio.run(backup.backup(settings, Path(args.out), db_url=args.db,
                                             skip_database=args.skip_database))
        lines = [f"backup written to {manifest['archive']}", *backup.contents(manifest)]
    else:
        lines = asyncio.run(backup.restore(settings, Path(args.archive), db_url=args.db, force=args.force))
    for line in lines:
        print(line)
    return 0
