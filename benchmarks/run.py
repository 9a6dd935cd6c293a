"""Runs every ``benchmarks/bench_*.py`` in turn, each in a subprocess with a timeout, and prints its output.

    .venv/bin/python benchmarks/run.py [--timeout SECONDS] [--only NAME ...] [--list] [-- ARGS FOR EACH]

The benchmarks run one after the other (never at once: they would slow each other down) with this
interpreter, from the repository root. The exit status is 0 when every benchmark exited 0, else 1;
a benchmark that runs past the timeout is stopped (its whole process group) and counts as failed.
"""

from __future__ import annotations

import argparse
import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_TIMEOUT = 900.0


def discover(only: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if not only:
        return found
    wanted = {name.removesuffix(".py").removeprefix("bench_") for name in only}
    return [path for path in found if path.stem.removeprefix("bench_") in wanted]


def summary_line(path: Path) -> str:
    """The first line of a benchmark's docstring."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError, UnicodeDecodeError):
        doc = ""
    return doc.strip().splitlines()[0] if doc.strip() else "(no docstring)"


def run_one(path: Path, args: list[str], timeout: float) -> tuple[str, float]:
    """Runs one benchmark with its output going straight to ours; returns (outcome, seconds)."""
    began = time.perf_counter()
    # a process group of its own, so a timeout stops the benchmark and whatever it started
    process = subprocess.Popen([sys.executable, str(path), *args], cwd=ROOT, start_new_session=True)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return f"timed out after {timeout:.0f} s", time.perf_counter() - began
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    return ("ok" if code == 0 else f"failed (exit {code})"), time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per benchmark before it is stopped ({DEFAULT_TIMEOUT:.0f})")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="run only these benchmarks (tickets, bench_sla, bench_sla.py all work)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks with their first docstring line")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="after --: arguments passed to every benchmark")
    args = parser.parse_args(argv)
    passed = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    benchmarks = discover(args.only)
    if not benchmarks:
        print(f"no benchmarks found in {HERE} (bench_*.py){' matching ' + ' '.join(args.only) if args.only else ''}",
              file=sys.stderr)
        return 1
    if args.list:
        width = max(len(path.name) for path in benchmarks)
        for path in benchmarks:
            print(f"{path.name.ljust(width)}  {summary_line(path)}")
        return 0

    outcomes: list[tuple[str, str, float]] = []
    for path in benchmarks:
        print(f"=== {path.name}", flush=True)
        outcome, seconds = run_one(path, passed, args.timeout)
        outcomes.append((path.name, outcome, seconds))
        print(f"=== {path.name}: {outcome} ({seconds:.0f} s)\n", flush=True)

    width = max(len(name) for name, _, _ in outcomes)
    print("summary")
    for name, outcome, seconds in outcomes:
        print(f"  {name.ljust(width)}  {outcome} ({seconds:.0f} s)")
    return 0 if all(outcome == "ok" for _, outcome, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
