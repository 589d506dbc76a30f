"""How long the command line takes to answer, as a person or a script calling it sees it: whole processes, start-up
included, each the median of five runs.

    python scripts/benchmark_cli.py [--runs 5]

A fresh workspace with the bundled demo works registered; then `semblance --help`, the commands that only read
records (`works list`, `audit show`, `offenders`), and for contrast `info` and the scan of one demo picture, which
load the engine. Target (the speed issue): `--help` <= 0.3 s on a quiet machine. Writes docs/cli-startup.json;
scripts/benchmark.py quotes it in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"
SEMBLANCE = [sys.executable, "-m", "service.cli"]


def wall(args: list[str], runs: int) -> dict[str, float]:
    """Min, median and max seconds of `semblance ARGS` as a whole process."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([*SEMBLANCE, *args], check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return {"min": round(min(times), 3), "median": round(statistics.median(times), 3), "max": round(max(times), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "docs" / "cli-startup.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = str(Path(tmp) / "ws")
        subprocess.run([*SEMBLANCE, "--home", home, "init"], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*SEMBLANCE, "--home", home, "register", "--manifest", str(DEMO / "works.csv")],
            check=True,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        commands = {
            "semblance --help": ["--help"],
            "works list": ["--home", home, "works", "list"],
            "audit show": ["--home", home, "audit", "show"],
            "offenders": ["--home", home, "offenders"],
            "info (loads the engine)": ["--home", home, "info"],
            "scan one picture (loads the engine and a model)": [
                "--home", home, "scan", str(DEMO / "suspects" / "crop_night_cafe.jpg"),
            ],
        }  # fmt: skip
        seconds = {}
        for name, command in commands.items():
            seconds[name] = wall(command, args.runs)
            print(f"{name}: median {seconds[name]['median']} s", flush=True)
    report = {
        "machine": f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}",
        "runs": args.runs,
        "seconds": seconds,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
