"""One engine serves concurrent scans from several threads while another process registers works: no error, no
lost or wrong result, and the scans are not held up for the whole batch (registration locks per work)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from helpers_clip import REPO, make_images, offline_env

from service.engine import Engine, ScanResult, WorkMetadata
from service.inputs import InputItem, expand

DEMO = REPO / "samples" / "demo"
THREADS = 8
BATCH = 12


def test_eight_threads_scan_while_a_process_registers(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    engine = Engine.init(str(home), ["effnet-lite0"])
    for p in sorted((DEMO / "originals").glob("*.jpg")):
        engine.register(next(expand([str(p)])), WorkMetadata(ref=p.stem))
    suspects = {p.name: p.read_bytes() for p in sorted((DEMO / "suspects").glob("*.jpg"))}
    alone = {name: _judgement(engine.scan(InputItem(name, reader=lambda d=data: d))) for name, data in suspects.items()}
    assert alone["crop_night_cafe.jpg"][0] in ("copy", "derivative")
    batch = tmp_path / "batch"
    new = make_images(batch, BATCH, seed=7, prefix="new-")

    register = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "--home", str(home), "register", str(batch), "--json"],
        cwd=REPO,
        env=offline_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[BaseException] = []
    seen: list[tuple[str, tuple[object, ...], int]] = []  # suspect, judgement, works registered when it finished
    guard = threading.Lock()

    def scanner(offset: int) -> None:
        names = sorted(suspects)
        try:
            while register.poll() is None:
                name = names[offset % len(names)]
                offset += 1
                result = engine.scan(InputItem(name, reader=lambda n=name: suspects[n]))
                with guard:
                    seen.append((name, _judgement(result), engine.workspace.registry.count()))
        except BaseException as exc:  # any failure in a thread fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=scanner, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    out, err = register.communicate(timeout=600)
    for t in threads:
        t.join(timeout=120)
    try:
        assert register.returncode == 0, err
        assert out.count('"status": "registered"') == BATCH
        assert errors == []
        originals = 4
        during = [s for s in seen if originals < s[2] < originals + BATCH]
        assert during, "no scan finished between the works of the batch: scans were held up by the whole batch"
        for name, judgement, _ in seen:  # the new works are unrelated drawings: every judgement stays as alone
            assert judgement == alone[name], name
        after = engine.scan(next(expand([str(new[0])])))  # and the engine sees the works registered meanwhile
        assert after.verdict == "copy" and after.matches[0].ref == new[0].stem
    finally:
        engine.close()


def _judgement(result: ScanResult) -> tuple[object, ...]:
    assert result.error is None, result.error
    return result.verdict, tuple((m.ref, m.verdict, round(m.score, 6)) for m in result.matches)
