"""Run every benchmark, print one table of all their figures, write bench/results.json.

A benchmark is any ``bench/<name>.py`` with a top-level ``main(argv) -> dict``. Each runs
in a child process of its own (``main(["--json", ...])`` with its stdout captured), so
one that crashes or hangs is reported and the others still run. ``bench/scale.py`` (1,000
simulated agents on one daemon, about a minute) is one of them: ``--skip scale`` leaves it
out, ``--set scale="--agents 200"`` shrinks it.

    python bench/run_all.py [--only broker,repos] [--skip load] \\
        [--set load="--agents 20 --seconds 10"] [--timeout 900] [--json]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
NOT_BENCHES = {"__init__", "common", "run_all"}


def discover() -> list[str]:
    """Names of the modules in bench/ that define a top-level ``main``."""
    found = []
    for path in sorted(BENCH.glob("*.py")):
        if path.stem in NOT_BENCHES:
            continue
        tree = ast.parse(path.read_text(), str(path))
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            found.append(path.stem)
    return found


def child(name: str, out: Path, args: list[str]) -> int:
    """In the child process: run ``bench.<name>.main``, write what it returned to ``out``."""
    sys.path.insert(0, str(ROOT))
    module = importlib.import_module(f"bench.{name}")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        data = module.main(["--json", *args])
    out.write_text(json.dumps(data, default=str))
    return 0


def run_one(name: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run one benchmark in a child process; its figures, or the reason it has none."""
    with tempfile.TemporaryDirectory(prefix="hhbench-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, __file__, "--child", name, str(out), "--", *args]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:g} s", "seconds": timeout, "args": args}
        seconds = time.perf_counter() - t0
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            return {
                "error": f"exit {done.returncode}: " + " / ".join(tail),
                "seconds": seconds,
                "args": args,
            }
        return {"figures": json.loads(out.read_text()), "seconds": seconds, "args": args}


def _number(value: Any, unit: str) -> str:
    if not isinstance(value, int | float):
        return str(value)
    text = f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{text} {unit}".rstrip()


def table(results: dict[str, dict[str, Any]]) -> str:
    """One table over every benchmark: figure, value, target, ratio to floor, met."""
    rows = [("bench", "figure", "value", "target", "vs floor", "met")]
    for name, result in results.items():
        if "error" in result:
            rows.append((name, "FAILED", result["error"][:100], "", "", "NO"))
            continue
        for figure, f in result["figures"].items():
            ratio = f.get("ratio")
            met = f.get("met")
            rows.append(
                (
                    name,
                    figure,
                    _number(f.get("value"), f.get("unit", "")),
                    f.get("target") or "",
                    "" if ratio is None else f"{ratio:.2f}x",
                    "" if met is None else ("yes" if met else "NO"),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(results: dict[str, dict[str, Any]]) -> dict[str, int]:
    """How many figures met their target, missed it, or have none; how many benches failed."""
    met = missed = untargeted = 0
    for result in results.values():
        for f in result.get("figures", {}).values():
            if f.get("met") is None:
                untargeted += 1
            elif f["met"]:
                met += 1
            else:
                missed += 1
    failed = sum("error" in r for r in results.values())
    return {"met": met, "missed": missed, "untargeted": untargeted, "failed_benches": failed}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks; return (and write) every figure with the host it ran on."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benches to run")
    parser.add_argument("--skip", default="", help="comma-separated benches to leave out")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar='NAME="ARGS"',
        help='extra arguments for one bench, e.g. --set load="--seconds 10"',
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per bench")
    parser.add_argument("--out", type=Path, default=BENCH / "results.json")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    names = discover()
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    unknown = (only | skip) - set(names)
    if unknown:
        parser.error(f"no such bench: {', '.join(sorted(unknown))} (have {', '.join(names)})")
    extra: dict[str, list[str]] = {}
    for item in args.set:
        name, _, rest = item.partition("=")
        if name not in names:
            parser.error(f"--set {item!r}: no bench named {name!r}")
        extra[name] = shlex.split(rest)
    chosen = [n for n in names if (not only or n in only) and n not in skip]

    results: dict[str, dict[str, Any]] = {}
    for name in chosen:
        if not args.json:
            print(
                f"== {name} {' '.join(extra.get(name, []))}".rstrip(), file=sys.stderr, flush=True
            )
        results[name] = run_one(name, extra.get(name, []), args.timeout)
    data: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load": os.getloadavg()[0],
        },
        "summary": summary(results),
        "benches": results,
    }
    args.out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(table(results))
        s = data["summary"]
        print(
            f"\n{s['met']} met, {s['missed']} missed, {s['untargeted']} without a target, "
            f"{s['failed_benches']} bench(es) failed; written to {args.out}"
        )
    return data


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        name, out = sys.argv[2], Path(sys.argv[3])
        rest = sys.argv[5:] if sys.argv[4:5] == ["--"] else sys.argv[4:]
        sys.exit(child(name, out, rest))
    main()
