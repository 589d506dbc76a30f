"""Does a refactor change what Semblance does? Runs the main job on the bundled sample (init, register, scan), a sweep
of the sample listings and the offender report through the CLI, then the web service's casework over its API
(`semblance serve` on 127.0.0.1: a case opened, one suspect scanned at once, two as a job, a broken file refused,
the findings, works and offenders read back), and prints their JSON and status codes with what legitimately
differs between two runs taken out (timestamps, durations, generated ids and keys, hashes of the audit chain, the
temporary folder). With `--against REV` it runs the same in a worktree of REV (same virtualenv) and diffs the two.

    python scripts/compare_behaviour.py [--against REV] [--out FILE]
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_service import served

REPO = Path(__file__).resolve().parent.parent
VARIES = re.compile(r"(^|_)(at|time|ms|seconds|id|ids|key|hash|prev_hash|head|generation|run_key|elapsed.*)$")
"""Keys whose values differ between two identical runs: when, how long, generated ids and the audit chain's hashes
(which cover the time)."""


def normalised(value: Any, folders: dict[str, str]) -> Any:
    """`value` with the varying keys' values replaced by a marker and each of `folders` by its name."""
    if isinstance(value, dict):
        return {k: ("<varies>" if VARIES.search(k) else normalised(v, folders)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, folders) for v in value]
    if isinstance(value, str):
        for folder, name in folders.items():
            value = value.replace(folder, name)
    return value


def run(checkout: Path) -> str:
    """The normalised JSON of the sample's main job, sweep and offender report, run from `checkout`'s code."""
    with tempfile.TemporaryDirectory(prefix="semblance-compare-") as tmp:
        home = Path(tmp) / "ws"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "PYTHONPATH": str(checkout)}

        def cli(*args: str, stdin: str | None = None) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "service.cli", "--home", str(home), *args],
                input=stdin,
                cwd=checkout,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            return done.stdout

        cli("init")
        out: dict[str, Any] = {}
        demo = checkout / "samples" / "demo"
        out["register"] = [
            json.loads(x) for x in cli("register", "--manifest", str(demo / "works.csv"), "--json").splitlines()
        ]
        scans = Path(tmp) / "scan.jsonl"
        cli("scan", str(demo / "suspects"), "--jsonl", str(scans))
        out["scan"] = sorted((json.loads(x) for x in scans.read_text().splitlines()), key=lambda r: r["path"])
        out["works"] = json.loads(cli("works", "list", "--json"))
        sweep = Path(tmp) / "sweep"
        cli("sweep", str(checkout / "samples" / "listings" / "listings.csv"), "--out", str(sweep))
        out["sweep"] = [json.loads(x) for x in (sweep / "results.jsonl").read_text().splitlines()]
        out["offenders"] = json.loads(cli("offenders", "--json"))
        out["service"] = service(cli, home, env, checkout)
        out["audit_actions"] = [e["action"] for e in json.loads(cli("audit", "show", "--json"))]
        plain = normalised(out, {tmp: "<tmp>", str(checkout): "<checkout>"})
        return json.dumps(plain, indent=1, sort_keys=True, ensure_ascii=False)


def service(cli: Callable[..., str], home: Path, env: dict[str, str], checkout: Path) -> list[Any]:
    """The web service's answers (status and JSON body) to an investigator's and a registrar's calls, in order."""
    keys = {}
    for user, role in (("ivy", "investigator"), ("reg", "registrar")):
        cli("users", "add", user, "--role", role, "--password-stdin", stdin="compare-behaviour-pw\n")
        keys[user] = cli("api-keys", "create", user, "--label", "compare").strip()
    answers: list[Any] = []
    suspects = checkout / "samples" / "demo" / "suspects"
    with served(home, checkout, env) as (base, _), httpx.Client(base_url=base, trust_env=False, timeout=300) as http:

        def call(user: str, method: str, path: str, **kw: Any) -> Any:
            r = http.request(method, path, headers={"Authorization": f"Bearer {keys[user]}"}, **kw)
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
            call_name = f"{method} {re.sub(r'/[0-9]+', '/{id}', path)}"
            answers.append({"call": call_name, "status": r.status_code, "body": body})
            return body

        case = call("ivy", "POST", "/api/v1/cases", json={"number": "CMP-1", "title": "compare"})["case"]["id"]
        scans = f"/api/v1/cases/{case}/scans"

        def upload(*names: str) -> list[tuple[str, tuple[str, bytes]]]:
            return [("files", (n, (suspects / n).read_bytes())) for n in names]

        call("ivy", "POST", scans, files=upload("ai_collage_cafe_bridge.jpg"))
        job = call("ivy", "POST", scans, files=upload("crop_night_cafe.jpg", "unrelated_coffee.jpg"))
        for _ in range(600):
            state = call("ivy", "GET", f"/api/v1/cases/{case}/jobs/{job['job']['id']}")
            if state["job"]["state"] in ("done", "failed", "cancelled"):
                break
            answers.pop()  # polls while it runs are as many as the machine is slow
            time.sleep(0.5)
        call("ivy", "POST", scans, files=[("files", ("broken.jpg", b"\xff\xd8not a picture"))])
        call("ivy", "GET", f"/api/v1/cases/{case}/findings")
        call("ivy", "GET", "/api/v1/offenders")
        call("reg", "GET", "/api/v1/works")
        call("reg", "GET", "/api/v1/cases")
    return answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", help="A git revision to compare this checkout's behaviour with.")
    ap.add_argument("--out", help="Write this checkout's normalised JSON here.")
    args = ap.parse_args()
    here = run(REPO)
    if args.out:
        Path(args.out).write_text(here)
    if not args.against:
        print(here)
        return
    with tempfile.TemporaryDirectory(prefix="semblance-rev-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.against], check=True)
        try:
            there = run(tree)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
    diff = list(difflib.unified_diff(there.splitlines(), here.splitlines(), args.against, "this checkout", lineterm=""))
    print("\n".join(diff) if diff else f"identical to {args.against} (timestamps, durations and generated ids aside)")
    sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
