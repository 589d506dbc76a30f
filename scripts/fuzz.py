"""Fuzz the CLI with a seeded corpus of hostile files (scripts/hostile_files.py) and check the batch promise.

    python scripts/fuzz.py [--n 3000] [--seed 1] [--write-docs] [--json report.json] [--work DIR]

Builds the corpus, registers the bundled demo originals, scans the corpus with `semblance scan` and registers it
into a second workspace with `semblance register`, each one real CLI process. It checks: one result line per
input, no traceback, exit 0; the good pictures mixed in are judged exactly as when scanned alone; the registry
that took the corpus is consistent (SQLite integrity, vault files intact, descriptors, audit and index in step).
`--write-docs` puts the figures in docs/RELIABILITY.md. `make test` runs the same checks on a few hundred inputs
(tests/test_fuzz.py runs this script with `--json` and reads its report); this script is the nightly run, in the
thousands.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hostile_files import Hostile, build_corpus

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"
DOC = REPO / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- fuzz:begin -->", "<!-- fuzz:end -->"


@dataclass
class FuzzReport:
    inputs: int
    lines: int
    seconds: float
    scan_outcomes: dict[str, collections.Counter[str]]
    """family -> outcome (verdict or 'error') -> count, for the scan."""
    register_outcomes: collections.Counter[str]
    tracebacks: int
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The report as plain JSON (dataclasses.asdict would rebuild each Counter from its (key, count) pairs)."""
        return {
            "inputs": self.inputs,
            "lines": self.lines,
            "seconds": self.seconds,
            "scan_outcomes": {family: dict(counts) for family, counts in self.scan_outcomes.items()},
            "register_outcomes": dict(self.register_outcomes),
            "tracebacks": self.tracebacks,
            "problems": self.problems,
        }


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service.cli", "--home", str(home), *args]
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=environment, timeout=3600)


def _line_name(line: dict[str, object]) -> bytes:
    raw = line.get("path_bytes_b64")
    return base64.b64decode(str(raw)) if raw else str(line["path"]).encode()


def _entry(name: bytes, root: bytes, corpus: dict[bytes, Hostile]) -> Hostile | None:
    """The corpus entry a result line belongs to (zip members belong to their archive)."""
    relative = name[len(root) + 1 :] if name.startswith(root + b"/") else name
    return corpus.get(relative.split(b"!", 1)[0])


def run(n: int, seed: int, work: Path, env: dict[str, str] | None = None) -> FuzzReport:
    """Build an n-entry corpus under `work`, scan and register it with the CLI, and check every promise."""
    started = time.monotonic()
    good = [p.read_bytes() for p in sorted((DEMO / "suspects").glob("*.jpg"))]
    root = work / "corpus"
    corpus = {h.name: h for h in build_corpus(root, n, seed, good)}
    problems: list[str] = []
    tracebacks = 0

    home = work / "ws"
    for args in (("init", "--embedder", "effnet-lite0"), ("register", "--manifest", str(DEMO / "works.csv"))):
        done = cli(home, *args, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"setting up the fuzz workspace failed: {done.stderr}")

    out = work / "scan.jsonl"
    scan = cli(home, "scan", str(root), "--jsonl", str(out), env=env)
    tracebacks += scan.stderr.count("Traceback")
    if scan.returncode != 0:
        problems.append(f"scan exited {scan.returncode}: {scan.stderr[-2000:]}")
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    owed = sum(h.results for h in corpus.values())
    if len(lines) != owed:
        problems.append(f"scan gave {len(lines)} result lines for {owed} inputs")
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    per_entry: collections.Counter[bytes] = collections.Counter()
    base = os.fsencode(root)
    for line in lines:
        entry = _entry(_line_name(line), base, corpus)
        if entry is None:
            problems.append(f"a result line names no input: {line['path']!r}")
            continue
        per_entry[entry.name] += 1
        if line.get("verdict") is None and not line.get("error"):
            problems.append(f"{line['path']!r}: neither a verdict nor an error")
        outcomes[entry.family][str(line.get("verdict") or "error")] += 1
    for h in corpus.values():
        if per_entry[h.name] != h.results:
            problems.append(f"{h.name!r}: {per_entry[h.name]} result lines, owed {h.results}")

    alone_dir = work / "good-alone"
    alone_dir.mkdir()
    for h in corpus.values():
        if h.good:
            (alone_dir / os.fsdecode(h.name)).write_bytes((root / os.fsdecode(h.name)).read_bytes())
    alone = cli(home, "scan", str(alone_dir), "--json", env=env)
    expected = {Path(r["path"]).name: _judgement(r) for r in json.loads(alone.stdout or "[]")}
    for line in lines:
        name = Path(str(line["path"])).name
        if name in expected and line["path"].startswith(str(root)) and _judgement(line) != expected[name]:
            problems.append(f"{name}: judged differently among hostile files than alone")
    if len(expected) != sum(h.good for h in corpus.values()):
        problems.append(f"scanning the good pictures alone gave {len(expected)} results")

    target = work / "ws-corpus"
    cli(target, "init", "--embedder", "effnet-lite0", env=env)
    registered = cli(target, "register", str(root), "--json", env=env)
    tracebacks += registered.stderr.count("Traceback")
    if registered.returncode != 0:
        problems.append(f"register exited {registered.returncode}: {registered.stderr[-2000:]}")
    reg_lines = [json.loads(x) for x in registered.stdout.splitlines() if x.strip()]
    if len(reg_lines) != owed:
        problems.append(f"register gave {len(reg_lines)} outcome lines for {owed} inputs")
    problems += check_registry(target, reg_lines)
    return FuzzReport(
        inputs=len(corpus),
        lines=len(lines),
        seconds=time.monotonic() - started,
        scan_outcomes=dict(outcomes),
        register_outcomes=collections.Counter(str(r["status"]) for r in reg_lines),
        tracebacks=tracebacks,
        problems=problems,
    )


def _judgement(line: dict[str, object]) -> object:
    matches = line.get("matches") or []
    assert isinstance(matches, list)
    return line.get("verdict"), [(m["ref"], m["verdict"], m["score"]) for m in matches]


def check_registry(home: Path, outcomes: list[dict[str, object]]) -> list[str]:
    """Problems with a workspace after `register` printed `outcomes`: every registered work stored whole, with its
    descriptors (less those it said were not computed), its audit line and its index rows; nothing else stored."""
    from service.engine import Engine

    problems: list[str] = []
    db = sqlite3.connect(home / "registry.sqlite")
    try:
        if db.execute("PRAGMA integrity_check").fetchall() != [("ok",)]:
            problems.append("registry integrity check failed")
        if db.execute("PRAGMA foreign_key_check").fetchall():
            problems.append("registry foreign keys broken")
    finally:
        db.close()
    engine = Engine.open(str(home))
    try:
        reg = engine.workspace.registry
        works = {w.sha256: w for w in reg.works()}
        said = {str(o["sha256"]): o for o in outcomes if o["status"] == "registered"}
        if set(said) != set(works):
            problems.append(f"{len(said)} works reported registered, {len(works)} stored")
        signals = {s.key: s for s in engine.signals}  # one embedder: every signal registration computes
        for sha, w in works.items():
            data = engine.workspace.vault.path(sha).read_bytes() if engine.workspace.vault.has(sha) else b""
            if hashlib.sha256(data).hexdigest() != sha:
                problems.append(f"{w.ref}: vault file missing or altered")
            note = str(said.get(sha, {}).get("message", ""))
            skipped = {k for k in signals if f"{k.split(':', 1)[0]} not computed" in note}
            if reg.signals_of(w.id) != set(signals) - skipped:
                problems.append(f"{w.ref}: descriptors {sorted(reg.signals_of(w.id))}, expected all but {skipped}")
        audit = [a for a in reg.audit_trail() if a["action"] == "register"]
        if sorted(str(a["sha256"]) for a in audit) != sorted(works) or reg.generation() != len(works):
            problems.append("audit trail or generation out of step with the works")
        for key, index in engine.indexes(list(signals.values())).items():
            want: collections.Counter[int] = collections.Counter()
            for work_id, blob in reg.iter_descriptors(key):
                entries = signals[key].index_entries(signals[key].from_bytes(blob))
                want[work_id] += 0 if entries is None else len(entries.rows)
            if collections.Counter(index.work_ids.tolist()) != want:
                problems.append(f"index {key} out of step with the registry")
    finally:
        engine.close()
    return problems


def markdown(report: FuzzReport, n: int, seed: int) -> str:
    families = sorted(report.scan_outcomes)
    kinds = sorted({k for c in report.scan_outcomes.values() for k in c})
    rows = ["| family | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for f in families:
        rows.append(f"| {f} | " + " | ".join(str(report.scan_outcomes[f].get(k, 0)) for k in kinds) + " |")
    reg = ", ".join(f"{v} {k}" for k, v in sorted(report.register_outcomes.items()))
    return "\n".join(
        [
            BEGIN,
            f"`python scripts/fuzz.py --n {n} --seed {seed} --write-docs`, {time.strftime('%Y-%m-%d')}, "
            f"{report.seconds:.0f} s on this 2-core machine:",
            "",
            f"- inputs tried: **{report.inputs}** corpus entries, giving **{report.lines}** scan result lines "
            "(zip members count one each)",
            f"- tracebacks: **{report.tracebacks}**; problems found by the checks: **{len(report.problems)}**",
            f"- register of the same corpus: {reg}; registry consistent: "
            f"{'yes' if not any('registry' in p or 'vault' in p for p in report.problems) else 'NO'}",
            "",
            "Scan outcomes by family (a verdict, or `error`: reported and skipped):",
            "",
            *rows,
            "",
            *(f"- problem: {p}" for p in report.problems),
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="corpus entries (at least the ~60 fixed cases)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-docs", action="store_true", help="put the figures in docs/RELIABILITY.md")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON (what the test reads)")
    parser.add_argument("--work", type=Path, help="build the corpus and workspaces here (default: a temporary folder)")
    args = parser.parse_args()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        report = run(args.n, args.seed, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="semblance-fuzz-") as tmp:
            report = run(args.n, args.seed, Path(tmp))
    text = markdown(report, args.n, args.seed)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    if args.write_docs:
        doc = DOC.read_text(encoding="utf-8")
        start, end = doc.index(BEGIN), doc.index(END) + len(END)
        DOC.write_text(doc[:start] + text + doc[end:], encoding="utf-8")
    sys.exit(1 if report.problems or report.tracebacks else 0)


if __name__ == "__main__":
    main()
