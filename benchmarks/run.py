"""Runs every ``benchmarks/bench_*.py`` in turn, each in a subprocess with a timeout, and prints its output.

    .venv/bin/python benchmarks/run.py [--timeout SECONDS] [--only NAME ...] [--list] [-- ARGS FOR EACH]

The benchmarks run one after the other (never at once: they would slow each other down) with this
interpreter, from the repository root. The exit status is 0 when every benchmark exited 0, else 1;
a benchmark that runs past the timeout is stopped (its whole process group) and counts as failed.
The output ends with one table of every target the benchmarks reported (``common.report_target``):
measure, now, target, met or missed, and the load average at the start and the end of the run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import subprocess
import sys
import tempfile
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


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def read_targets(path: Path) -> list[dict[str, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def print_targets(targets: list[tuple[str, dict[str, object]]], loads: tuple[str, str]) -> None:
    print(f"targets (load average 1/5/15 min: {loads[0]} at the start, {loads[1]} at the end)")
    if not targets:
        print("  none reported")
        return
    rows = [(str(t["measure"]), str(t["now"]), str(t["target"]), "met" if t["met"] else "MISSED", name)
            for name, t in targets]
    headers = ("measure", "now", "target", "state", "benchmark")
    widths = [max(len(x) for x in column) for column in zip(headers, *rows, strict=True)]
    for cells in (headers, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
    missed = sum(1 for _, t in targets if not t["met"])
    print(f"{len(targets) - missed} of {len(targets)} targets met")


def run_one(path: Path, args: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[str, float]:
    """Runs one benchmark with its output going straight to ours; returns (outcome, seconds)."""
    began = time.perf_counter()
    # a process group of its own, so a timeout stops the benchmark and whatever it started
    process = subprocess.Popen([sys.executable, str(path), *args], cwd=ROOT, start_new_session=True, env=env)
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
    targets: list[tuple[str, dict[str, object]]] = []
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="dutydesk-bench-") as scratch:
        for path in benchmarks:
            print(f"=== {path.name} (load average {load_average()})", flush=True)
            target_file = Path(scratch) / f"{path.stem}.jsonl"
            env = {**os.environ, "DUTYDESK_BENCH_TARGETS": str(target_file)}
            outcome, seconds = run_one(path, passed, args.timeout, env)
            outcomes.append((path.name, outcome, seconds))
            targets += [(path.stem.removeprefix("bench_"), t) for t in read_targets(target_file)]
            print(f"=== {path.name}: {outcome} ({seconds:.0f} s)\n", flush=True)

    width = max(len(name) for name, _, _ in outcomes)
    print("summary")
    for name, outcome, seconds in outcomes:
        print(f"  {name.ljust(width)}  {outcome} ({seconds:.0f} s)")
    print()
    print_targets(targets, (load_before, load_average()))
    return 0 if all(outcome == "ok" for _, outcome, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
