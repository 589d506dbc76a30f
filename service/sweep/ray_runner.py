"""`semblance sweep --runner ray`: the same sweep on Ray Data, for a cluster.

Stages: the run's pending items become a dataset; fetching (or reading) runs in its own `map_batches` stage on a
pool of actors that each hold one guarded `Fetcher`; scanning runs on a pool of actors that each open the workspace
once (the model, and a read-only copy of the registry and index: nothing is registered during a sweep); the scan
results are written as Parquet shards in the run folder (`shards/`). The driver then ingests the shards in item
order through exactly the local runner's `Sweep.record`, so deduplication, near-duplicate groups, the findings
store and run.sqlite come out as the local runner's do. Identical bytes seen by different scan actors are scanned
by each (a cluster-wide "seen" set would serialise the stage); the driver keeps the first result, as locally.

Locally (tests, a laptop) Ray starts on 127.0.0.1 with no dashboard and usage statistics off, so it neither
listens on the network nor reaches outside hosts; on a cluster, set RAY_ADDRESS (see docs/SCALING.md).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from service.engine import Engine
from service.store import Store
from service.sweep import stages
from service.sweep.fetch import Fetcher, FetchPolicy
from service.sweep.listings import ImageRef, Listing
from service.sweep.run import Counts, Sweep, SweepOptions

SHARDS = "shards"
FETCH_BATCH = 8
SCAN_BATCH = 4


class FetchStage:
    """A Ray actor's fetch stage: one guarded fetcher, reused for every batch it is given."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.fetcher = Fetcher(policy)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, list[Any]] = {"seq": [], "data": [], "sha256": [], "provenance": [], "error": []}
        for seq, source, is_url in zip(batch["seq"], batch["source"], batch["is_url"], strict=True):
            ref = ImageRef(url=str(source)) if bool(is_url) else ImageRef(path=str(source))
            got = stages.acquire(ref, self.fetcher)
            out["seq"].append(int(seq))
            out["data"].append(got.data or b"")
            out["sha256"].append(got.sha256)
            out["provenance"].append(json.dumps(got.provenance, ensure_ascii=False))
            out["error"].append(got.error or "")
        return out


class ScanStage:
    """A Ray actor's scan stage: the workspace opened once (model, registry, index), read only."""

    def __init__(self, home: str, top_k: int) -> None:
        self.engine = Engine.open(home)
        self.top_k = top_k

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        results, pdqs, keep = [], [], []
        for seq, data, error in zip(batch["seq"], batch["data"], batch["error"], strict=True):
            if error or not data:
                results.append("")
                pdqs.append("")
                keep.append(b"")
                continue
            result, pdq = stages.scan(self.engine, f"item {int(seq)}", bytes(data), self.top_k)
            results.append(json.dumps(result, ensure_ascii=False))
            pdqs.append(pdq)
            keep.append(bytes(data) if result.get("verdict") in ("copy", "derivative") else b"")  # hits' evidence
        return batch | {"result": results, "pdq": pdqs, "data": keep}


def start_ray() -> Any:
    """Connect to the cluster in RAY_ADDRESS, or start Ray on 127.0.0.1 only, without dashboard or usage reports."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(address=os.environ["RAY_ADDRESS"], include_dashboard=False, log_to_driver=False)
        else:
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    return ray


def sweep_ray(
    engine: Engine,
    store: Store,
    listings: Iterable[Listing],
    folder: Path,
    source: str,
    options: SweepOptions | None = None,
    scanners: int = 1,
) -> Counts:
    """Run (or resume) a sweep on Ray; the outputs are then written by `outputs.write_outputs`, as locally.
    `scanners` is the number of scan actors (one per node's worth of cores on a cluster)."""
    options = options or SweepOptions()
    ray = start_ray()
    sweep = Sweep(store, listings, folder, source)
    shards = folder / SHARDS
    shutil.rmtree(shards, ignore_errors=True)  # a killed attempt's partial shards: its items are still pending
    if sweep.firsts:
        ds = ray.data.from_items([{"seq": i.seq, "source": i.source, "is_url": i.is_url} for i in sweep.firsts])
        fetched = ds.map_batches(
            FetchStage,
            fn_constructor_kwargs={"policy": options.fetch},
            batch_size=FETCH_BATCH,
            concurrency=max(1, min(options.workers, 4)),
            batch_format="numpy",
        )
        scanned = fetched.map_batches(
            ScanStage,
            fn_constructor_kwargs={"home": str(engine.workspace.home), "top_k": options.top_k},
            batch_size=SCAN_BATCH,
            concurrency=scanners,
            batch_format="numpy",
        )
        scanned.write_parquet(str(shards))
    _ingest(sweep, shards, options)
    sweep.record_repeats(engine, options)
    return sweep.end(engine, "ray")


def _ingest(sweep: Sweep, shards: Path, options: SweepOptions) -> None:
    """Record the shards' results in item order through the local runner's own path."""
    import pyarrow.parquet as pq

    rows: dict[int, dict[str, Any]] = {}
    for shard in sorted(shards.glob("*.parquet")) if shards.is_dir() else []:
        for r in pq.read_table(shard).to_pylist():
            rows[int(r["seq"])] = r
    for item in sweep.firsts:
        r = rows.get(item.seq)
        if r is None:
            continue  # not produced (a failed shard): stays pending for the next run
        provenance = json.loads(r["provenance"])
        if r["error"]:
            sweep.record(None, item, stages.Acquired(item.source, None, "", provenance, r["error"]), options)
            continue
        result = json.loads(r["result"]) | {"path": item.source}
        got = stages.Acquired(item.source, bytes(r["data"] or b""), r["sha256"], provenance)
        sweep.record(None, item, got, options, scanned=(result, r["pdq"]))
