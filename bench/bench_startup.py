"""Goal 1: ``govern --help`` cold start at most 1.5x ``python -c "import click"``.

Run: ``.venv/bin/python bench/bench_startup.py [runs]`` (default 60 runs of each).

Both commands are started directly (no shell) from the virtualenv: the console script
``.venv/bin/govern --help`` and ``.venv/bin/python -c "import click"``. They alternate
(A B A B ...), so a change in the machine's load hits both alike, after 5 warm-up runs each (the
files are then in the page cache: "cold" means a new interpreter, not a cold disk). Wall time is
the median; the CPU time (user + system of the child, from ``wait4``) is printed too, since it
is far less sensitive to other processes on the machine. When hyperfine is installed it runs the
same pair as a cross-check, in rounds that alternate which command goes first.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import GOVERN, PYTHON, child_env, finish, goal, header, loadavg, median

GOAL = 1.5


def spawn(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and child CPU seconds of one run, output to /dev/null."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def hyperfine(a: list[str], b: list[str], rounds: int = 4, runs: int = 20) -> float | None:
    """hyperfine's medians, in rounds that alternate which command runs first."""
    exe = shutil.which("hyperfine")
    if not exe:
        print("   hyperfine not installed (apt-get install -y hyperfine): cross-check skipped")
        return None
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            pair = [a, b] if r % 2 == 0 else [b, a]
            out = Path(tmp) / f"round{r}.json"
            subprocess.run(
                [
                    exe,
                    "-N",
                    "--warmup",
                    "3",
                    "--runs",
                    str(runs),
                    "--style",
                    "none",
                    "--export-json",
                    str(out),
                    *(shlex.join(cmd) for cmd in pair),
                ],
                check=True,
                capture_output=True,
                env=child_env(),
            )
            results = {
                res["command"]: res["median"] for res in json.loads(out.read_text())["results"]
            }
            ga, gb = results[shlex.join(a)], results[shlex.join(b)]
            ratios.append(ga / gb)
            print(
                f"   hyperfine round {r + 1}: govern --help {ga * 1000:6.1f} ms, "
                f"import click {gb * 1000:6.1f} ms (medians), ratio {ga / gb:.2f}x"
            )
    return median(ratios)


def measure(env: dict[str, str], runs: int) -> dict[str, float]:
    """Median wall and CPU seconds of each command over ``runs`` alternating runs."""
    govern = [str(GOVERN), "--help"]
    click = [str(PYTHON), "-c", "import click"]
    for _ in range(5):
        spawn(govern, env)
        spawn(click, env)
    wall: dict[str, list[float]] = {"govern": [], "click": []}
    cpu: dict[str, list[float]] = {"govern": [], "click": []}
    for _ in range(runs):
        for name, argv in (("govern", govern), ("click", click)):
            w, c = spawn(argv, env)
            wall[name].append(w)
            cpu[name].append(c)
    out = {
        "govern_wall": median(wall["govern"]),
        "click_wall": median(wall["click"]),
        "govern_cpu": median(cpu["govern"]),
        "click_cpu": median(cpu["click"]),
    }
    print(f"   {runs} alternating runs each; load average now {loadavg()}")
    for name, label in (("govern", "govern --help"), ("click", "import click")):
        print(
            f"   {label:<18} wall {out[name + '_wall'] * 1000:6.1f} ms  "
            f"cpu {out[name + '_cpu'] * 1000:6.1f} ms (medians)"
        )
    print(
        f"   ratio              wall {out['govern_wall'] / out['click_wall']:6.2f}x    "
        f"cpu {out['govern_cpu'] / out['click_cpu']:6.2f}x"
    )
    return out


def main(runs: int = 60) -> None:
    header("Goal 1: govern --help cold start vs python -c 'import click'")
    print("-- with a bytecode cache (as after pip install; the goal's measurement)")
    cached = measure(child_env(), runs)
    gw, cw = cached["govern_wall"], cached["click_wall"]
    gc, cc = cached["govern_cpu"], cached["click_cpu"]
    cross = hyperfine([str(GOVERN), "--help"], [str(PYTHON), "-c", "import click"])
    if cross is not None:
        print(f"   hyperfine: median of per-round ratios {cross:.2f}x")
    print("-- without one (PYTHONDONTWRITEBYTECODE=1, as in this session's shell; for information)")
    uncached = measure(child_env(bytecode=False), max(runs // 3, 10))
    goal(
        1,
        "govern --help <= 1.5x import click",
        gw / cw <= GOAL,
        f"{gw * 1000:.0f} ms vs {cw * 1000:.0f} ms wall = {gw / cw:.2f}x "
        f"(CPU {gc / cc:.2f}x; goal <= {GOAL}x)",
        govern_ms=round(gw * 1000, 1),
        click_ms=round(cw * 1000, 1),
        ratio_wall=round(gw / cw, 3),
        ratio_cpu=round(gc / cc, 3),
        ratio_hyperfine=None if cross is None else round(cross, 3),
        ratio_wall_no_bytecode=round(uncached["govern_wall"] / uncached["click_wall"], 3),
        ratio_cpu_no_bytecode=round(uncached["govern_cpu"] / uncached["click_cpu"], 3),
    )
    finish("startup")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
