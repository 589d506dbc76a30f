"""Test helpers: a tiny random open_clip checkpoint, seeded test images, an offline environment and a guard that
refuses network connections outside the loopback, in this process and in the CLI subprocesses the tests start.

Only the standard library is imported at module level: `sitecustomize.py` in CLI subprocesses loads this file
to install the network guard before anything else runs.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Nothing in the tests may download: the hub client reads these at import time, so set them first.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent

TINY_ARCH = "semblance-tiny-vit"
"""Not an open_clip built-in: found only through the open_clip_config.json written beside the weights."""
TINY_EMBED_DIM = 32
TINY_MODEL_CFG: dict[str, object] = {
    "embed_dim": TINY_EMBED_DIM,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 512, "width": 32, "heads": 2, "layers": 1},
}


class NetworkBlocked(OSError):
    """Raised instead of opening a connection outside the loopback."""


def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install_network_guard(setattr_: Callable[[Any, str, Any], None] = setattr) -> None:
    """Make connect/sendto/getaddrinfo refuse anything but 127.0.0.0/8, ::1 and Unix sockets."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo

    def check(address: object) -> None:
        if isinstance(address, tuple) and not _loopback(address[0]):
            raise NetworkBlocked(f"test network guard: connection to {address!r} refused (tests stay offline)")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        check(args[-1])
        return real_sendto(self, data, *args)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else host):
            raise NetworkBlocked(f"test network guard: name lookup of {host!r} refused (tests stay offline)")
        return real_getaddrinfo(host, *args, **kwargs)

    setattr_(socket.socket, "connect", connect)
    setattr_(socket.socket, "connect_ex", connect_ex)
    setattr_(socket.socket, "sendto", sendto)
    setattr_(socket, "getaddrinfo", getaddrinfo)


def offline_env(tmp: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: offline hub, an empty private HF cache, the network guard, wide output."""
    guard = tmp / "netguard"
    guard.mkdir(parents=True, exist_ok=True)
    (guard / "sitecustomize.py").write_text(
        "import importlib.util\n"
        f"_spec = importlib.util.spec_from_file_location('_semblance_netguard', {str(Path(__file__).resolve())!r})\n"
        "_mod = importlib.util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_mod)\n"
        "_mod.install_network_guard()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEMBLANCE_", "PYTHON"))}
    env.update(
        PYTHONPATH=str(guard),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(tmp / "hf-home"),
        HF_HUB_CACHE=str(tmp / "hf-home" / "hub"),
        COLUMNS="1000",  # rich wraps messages at the terminal width; keep each on one line
        NO_COLOR="1",
        OMP_NUM_THREADS="1",  # see one_torch_thread
        MKL_NUM_THREADS="1",
    )
    return env


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch single-threaded: on a shared 2-core machine its spinning thread pool made one embedding 10-30x
    slower (3 s instead of 0.1 s) whenever another process was busy. Results do not depend on it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def semblance(home: Path, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI (`python -m service.cli`) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(home), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """Write a random tiny ViT CLIP as `open_clip_model.safetensors` with its `open_clip_config.json`."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_MODEL_CFG, "preprocess_cfg": {}}))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{folder}", load_weights=False, pretrained_text=False)
    weights = folder / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return weights


def make_images(folder: Path, n: int, seed: int, prefix: str = "img") -> list[Path]:
    """`n` small, distinct JPEGs of random rectangles and ellipses on random backgrounds (seeded)."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        w, h = int(rng.integers(160, 320)), int(rng.integers(160, 320))
        im = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(8, 16))):
            x0, y0 = int(rng.integers(-20, w)), int(rng.integers(-20, h))
            x1, y1 = x0 + int(rng.integers(12, w // 2)), y0 + int(rng.integers(12, h // 2))
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.rectangle if rng.integers(0, 2) else draw.ellipse)((x0, y0, x1, y1), fill=fill)
        path = folder / f"{prefix}{i:02d}.jpg"
        im.save(path, quality=90)
        paths.append(path)
    return paths
