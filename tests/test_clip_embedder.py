"""The CLIP embedder path, with a tiny random open_clip ViT written to a temporary folder (nothing downloads)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers_clip import (
    TINY_ARCH,
    TINY_EMBED_DIM,
    install_network_guard,
    make_images,
    make_tiny_clip,
    offline_env,
    one_torch_thread,
    semblance,
)

from detector.auto import AUTO_CLIP, resolve_auto
from detector.embedders import DEFAULT_EMBEDDER, ClipWeightsMissing, load_embedder
from detector.embedders.clip import CROP_BOXES, ClipEmbedder, resolve_weights


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No network, an empty private hub cache, and no embedder cached from another test."""
    import huggingface_hub.constants

    install_network_guard(monkeypatch.setattr)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    load_embedder.cache_clear()
    with one_torch_thread():
        yield
    load_embedder.cache_clear()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weights file of a tiny random CLIP (open_clip_config.json beside it)."""
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    from PIL import Image

    paths = make_images(tmp_path_factory.mktemp("pictures"), 3, seed=7)
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_file_spec_gives_normalised_regional_vectors(tiny: Path, pictures: list[np.ndarray]) -> None:
    spec = f"clip:{TINY_ARCH}:{tiny}"
    e = load_embedder(spec)
    assert isinstance(e, ClipEmbedder)
    assert e.id == spec
    assert e.dim == TINY_EMBED_DIM
    assert e.weights_sha256 == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert load_embedder(spec) is e  # built once per process
    f = e.features(pictures[0])
    assert f.vectors.shape == (5, TINY_EMBED_DIM)
    assert f.vectors.dtype == np.float32
    assert f.boxes == CROP_BOXES
    np.testing.assert_allclose(np.linalg.norm(f.vectors, axis=1), 1.0, atol=1e-5)
    assert f.global_vector is not None and f.global_vector.shape == (TINY_EMBED_DIM,)


def test_identical_images_match_and_different_ones_less(tiny: Path, pictures: list[np.ndarray]) -> None:
    e = load_embedder(f"clip:{TINY_ARCH}:{tiny}")
    a, b, c = pictures
    same = _cos(e.features(a).global_vector, e.features(a.copy()).global_vector)
    assert same == pytest.approx(1.0, abs=1e-5)
    for other in (b, c):
        assert _cos(e.features(a).global_vector, e.features(other).global_vector) < same - 1e-4


def test_local_dir_form_loads_the_same_weights(tiny: Path, pictures: list[np.ndarray]) -> None:
    by_file = load_embedder(f"clip:{TINY_ARCH}:{tiny}")
    by_dir = load_embedder(f"clip:{TINY_ARCH}:local-dir:{tiny.parent}")
    assert by_dir.id == f"clip:{TINY_ARCH}:local-dir:{tiny.parent}"
    assert by_dir.weights_sha256 == by_file.weights_sha256
    assert by_dir.dim == TINY_EMBED_DIM
    np.testing.assert_allclose(by_dir.features(pictures[1]).vectors, by_file.features(pictures[1]).vectors, atol=1e-6)


def test_weights_really_come_from_the_file(tiny: Path, tmp_path: Path, pictures: list[np.ndarray]) -> None:
    """Another random init of the same config gives other vectors: the weights are loaded, not re-initialised."""
    other = make_tiny_clip(tmp_path / "other", seed=1)
    v0 = load_embedder(f"clip:{TINY_ARCH}:{tiny}").features(pictures[0]).global_vector
    v1 = load_embedder(f"clip:{TINY_ARCH}:{other}").features(pictures[0]).global_vector
    assert not np.allclose(v0, v1, atol=1e-3)


def test_missing_weights_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "weights.safetensors"
    with pytest.raises(ClipWeightsMissing, match="not found") as info:
        load_embedder(f"clip:{TINY_ARCH}:{missing}")
    assert str(missing) in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClipWeightsMissing, match="no open_clip weights file") as info:
        load_embedder(f"clip:{TINY_ARCH}:local-dir:{tmp_path / 'empty'}")
    assert str(tmp_path / "empty") in str(info.value)


def test_uncached_hub_tag_points_to_models_fetch() -> None:
    model, tag = AUTO_CLIP.split(":")[1:]
    with pytest.raises(ClipWeightsMissing) as info:
        load_embedder(AUTO_CLIP)
    message = str(info.value)
    assert "semblance models fetch" in message
    assert model in message and tag in message
    assert AUTO_CLIP not in resolve_auto()  # auto never picks (or fetches) what is not here


def _fake_hub_file(cache: Path, repo: str, filename: str) -> Path:
    """A file laid out the way huggingface_hub caches `repo`/`filename` at revision main."""
    base = cache / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text("0" * 40)
    path = base / "snapshots" / ("0" * 40) / filename
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    return path


def test_cached_hub_weights_are_found_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    laion = _fake_hub_file(cache, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_model.safetensors")
    model, tag = AUTO_CLIP.split(":")[1:]
    assert resolve_weights(model, tag) == str(laion)
    assert resolve_auto()[1:] == [AUTO_CLIP]
    # hub entries that name their file (`org/repo/pytorch_model.bin`): the repo is `org/repo`
    vitamin = _fake_hub_file(cache, "jienengchen/ViTamin-S", "pytorch_model.bin")
    assert resolve_weights("ViTamin-S", "datacomp1b") == str(vitamin)


def test_unknown_architecture_without_config_is_a_clear_error(tiny: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare" / "weights.safetensors"
    bare.parent.mkdir()
    shutil.copy(tiny, bare)
    with pytest.raises(ValueError, match=r"open_clip_config\.json"):
        load_embedder(f"clip:{TINY_ARCH}:{bare}")


def test_network_guard_reaches_subprocesses(tmp_path: Path) -> None:
    code = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=5)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=offline_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "test network guard" in done.stderr


def test_scan_then_register_with_two_embedders(tiny: Path, tmp_path: Path) -> None:
    """One engine scanning (primary signals) and then registering (every embedder's signals) in one process."""
    from service.engine import Engine, EngineError, WorkMetadata
    from service.inputs import expand

    images = make_images(tmp_path / "works", 2, seed=11)
    items = {p.name: next(expand([str(p)])) for p in images}
    spec = f"clip:{TINY_ARCH}:{tiny}"
    engine = Engine.init(str(tmp_path / "ws"), [DEFAULT_EMBEDDER, spec])
    assert engine.register(items["img00.jpg"], WorkMetadata()).status == "registered"
    engine.close()
    engine = Engine.open(str(tmp_path / "ws"))
    try:
        assert engine.scan(items["img00.jpg"]).verdict == "copy"
        assert engine.register(items["img01.jpg"], WorkMetadata()).status == "registered"
        work = engine.work("img01")
        assert work is not None
        assert f"embedding:{spec}" in engine.workspace.registry.signals_of(work.id)
    finally:
        engine.close()
    clip = Engine.open(str(tmp_path / "ws"), embedder=spec)
    try:  # no calibration exists for this CLIP file: no verdicts, and the message says how to make one
        with pytest.raises(EngineError, match="calibrate --embedder") as info:
            clip.scan(items["img00.jpg"])
        assert f"no calibration ships for embedder '{spec}'" in str(info.value)
    finally:
        clip.close()


def test_cli_end_to_end(tiny: Path, tmp_path: Path) -> None:
    env = offline_env(tmp_path)
    home = tmp_path / "ws"
    spec = f"clip:{TINY_ARCH}:{tiny}"
    images = make_images(tmp_path / "works", 7, seed=5)
    miss_image = images.pop()

    done = semblance(home, "init", "--embedder", DEFAULT_EMBEDDER, "--embedder", spec, env=env)
    assert done.returncode == 0, done.stderr
    assert spec in done.stdout

    done = semblance(home, "register", *map(str, images), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert [line.count('"registered"') for line in done.stdout.splitlines()] == [1] * len(images)

    done = semblance(home, "scan", str(images[0]), "--embedder", spec, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"calibrate --embedder {spec}" in " ".join(done.stderr.split())
    done = semblance(home, "calibrate", "--embedder", spec, "--per-work", "4", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "false alarms" in done.stdout and "calibrated" in done.stdout

    done = semblance(home, "scan", str(images[0]), str(miss_image), "--embedder", spec, "--json", env=env)
    assert done.returncode == 0, done.stderr
    hit, miss = json.loads(done.stdout)
    assert hit["verdict"] == "copy"
    assert hit["matches"][0]["ref"] == images[0].stem
    assert "embedding" in hit["matches"][0]["signals"]
    # an unregistered image is no copy (a random tiny network cannot tell it from a derivative, so no more)
    assert miss["verdict"] != "copy"
    assert all(m["score"] < hit["matches"][0]["score"] for m in miss["matches"])

    other = f"clip:{TINY_ARCH}:local-dir:{tiny.parent}"  # same weights, but not the spec this workspace enabled
    done = semblance(home, "scan", str(images[0]), "--embedder", other, env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert f"embedder '{other}' is not enabled" in message
    assert spec in message  # names what is enabled


def test_cli_init_with_missing_weights_fails_cleanly_offline(tmp_path: Path) -> None:
    done = semblance(
        tmp_path / "ws",
        "init",
        "--embedder",
        f"clip:{TINY_ARCH}:{tmp_path / 'absent.safetensors'}",
        env=offline_env(tmp_path),
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "CLIP weights file not found" in " ".join(done.stderr.split())
    assert not (tmp_path / "ws" / "config.json").exists()

    done = semblance(tmp_path / "ws", "init", "--embedder", AUTO_CLIP, env=offline_env(tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"semblance models fetch {AUTO_CLIP}" in " ".join(done.stderr.split())
    assert not (tmp_path / "ws" / "config.json").exists()
