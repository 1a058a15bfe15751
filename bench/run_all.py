"""Run every benchmark, one after another, and print a summary of the six goals.

Run from the repository root: ``.venv/bin/python bench/run_all.py [--only NAME ...] [--quick]
[--json FILE]``. About 30-40 minutes on a 2-core machine; ``--quick`` runs every benchmark on small
inputs (a smoke test of the scripts, not figures to quote).

Each benchmark runs as its own process and prints its progress and a ``GOAL n (...): MET|NOT MET``
line per goal; this script streams their output and ends with a table. It exits non-zero only
when a benchmark crashed, never because a goal was missed. The load average is printed before and
after each benchmark: on a shared machine compare it with the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import PYTHON, child_env, loadavg, machine

HERE = Path(__file__).resolve().parent

BENCHES: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, --quick arguments)
    "startup": (["bench_startup.py", "80"], ["bench_startup.py", "10"]),
    "fairness": (
        ["bench_fairness.py"],
        ["bench_fairness.py", "100000", "--rounds", "2", "--fairlearn-runs", "1"],
    ),
    "audit": (["bench_audit.py"], ["bench_audit.py", "--rows", "50000", "--rounds", "1"]),
    "nightly": (
        ["bench_nightly.py", "--profile"],
        [
            "bench_nightly.py",
            "--models",
            "2",
            "--per-model",
            "2",
            "--rounds",
            "1",
            "--repeats",
            "1",
        ],
    ),
    "scan": (
        ["bench_scan.py"],
        ["bench_scan.py", "--models", "5", "--per-model", "4", "--rounds", "1"],
    ),
    "jobs": (
        ["bench_jobs.py"],
        ["bench_jobs.py", "--models", "2", "--per-model", "2", "--rows", "5000", "--rounds", "1"],
    ),
}


def run_one(name: str, argv: list[str]) -> tuple[int, dict[str, Any] | None, float]:
    start = time.perf_counter()
    print(f"\n##### {name}: {' '.join(argv)} (load average {loadavg()})", flush=True)
    proc = subprocess.Popen(
        [str(PYTHON), str(HERE / argv[0]), *argv[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(),
        cwd=HERE.parent,
    )
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("BENCH-RESULT "):
            result = json.loads(line[len("BENCH-RESULT ") :])
            continue
        sys.stdout.write(line)
        sys.stdout.flush()
    code = proc.wait()
    return code, result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these")
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke test")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    args = parser.parse_args()
    m = machine()
    print(
        f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}\n"
        f"libraries: {', '.join(f'{k} {v}' for k, v in m['libraries'].items())}\n"
        f"load average at start: {loadavg()}"
    )
    crashed = []
    results = []
    for name in args.only or list(BENCHES):
        full, quick = BENCHES[name]
        code, result, elapsed = run_one(name, quick if args.quick else full)
        if code != 0 or result is None:
            crashed.append(name)
            print(f"##### {name} CRASHED (exit {code})")
            continue
        result["elapsed_s"] = round(elapsed, 1)
        results.append(result)
    print("\n" + "=" * 100)
    print(f"{'goal':<5} {'result':<8} detail")
    for result in results:
        for g in result["goals"]:
            print(
                f"{g['goal']:<5} {'MET' if g['met'] else 'NOT MET':<8} {g['title']}: {g['detail']}"
            )
        print(
            f"      ({result['bench']}: {result['elapsed_s']} s, "
            f"load at end {result['load_at_end']})"
        )
    for name in crashed:
        print(f"      {name}: CRASHED")
    print(f"load average at end: {loadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"machine": m, "results": results}, indent=2))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
