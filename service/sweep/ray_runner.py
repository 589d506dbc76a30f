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

import heapq
import itertools
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from service.engine import Engine
from service.store import Store
from service.sweep import stages
from service.sweep.fetch import Fetcher, FetchPolicy
from service.sweep.listings import ImageRef, Listing
from service.sweep.run import Counts, Item, Sweep, SweepOptions

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
        ray.data.DataContext.get_current().execution_options.preserve_order = True  # shards in item order
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


INGEST_BATCH = 5000
"""Items the driver records per transaction: one fsync and a few statements per table for thousands of images
(scripts/benchmark_ingest.py measures the rate), while a crash redoes at most one batch's worth."""


def _ingest(sweep: Sweep, shards: Path, options: SweepOptions) -> None:
    """Record the shards' results in item order, INGEST_BATCH items per transaction, through the local runner's
    own path (`Sweep.record_many`). Items with no row (a failed shard) stay pending for the next run."""
    items = {item.seq: item for item in sweep.firsts}
    batch: list[tuple[Item, stages.Acquired, tuple[dict[str, Any], str] | None]] = []
    for r in rows_in_order(sorted(shards.glob("*.parquet")) if shards.is_dir() else []):
        item = items.get(int(r["seq"]))
        if item is None:
            continue
        provenance = json.loads(r["provenance"])
        if r["error"]:
            batch.append((item, stages.Acquired(item.source, None, "", provenance, r["error"]), None))
        else:
            result = json.loads(r["result"]) | {"path": item.source}
            got = stages.Acquired(item.source, bytes(r["data"] or b""), r["sha256"], provenance)
            batch.append((item, got, (result, r["pdq"])))
        if len(batch) >= INGEST_BATCH:
            sweep.record_many(None, batch, options)
            batch = []
    if batch:
        sweep.record_many(None, batch, options)


def rows_in_order(shards: list[Path]) -> Iterator[dict[str, Any]]:
    """The shards' rows by item number, a record batch at a time. Ray Data writes the dataset's blocks in order
    (`preserve_order`), so shards hold runs of item numbers that do not overlap and are read one after another;
    shards that do overlap (written otherwise) are merged, each sorted first, so the order never depends on how
    the cluster split the work."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    spans = []
    for shard in shards:
        seqs = pq.read_table(shard, columns=["seq"]).column("seq")
        if len(seqs):
            span = pc.min_max(seqs).as_py()
            spans.append((int(span["min"]), int(span["max"]), shard))
    spans.sort()
    disjoint = all(a[1] < b[0] for a, b in itertools.pairwise(spans))

    def rows(shard: Path) -> Iterator[dict[str, Any]]:
        table = pq.read_table(shard).sort_by("seq")
        for part in table.to_batches(max_chunksize=INGEST_BATCH):
            yield from part.to_pylist()

    if disjoint:
        for _, _, shard in spans:
            yield from rows(shard)
    else:
        yield from heapq.merge(*(rows(shard) for _, _, shard in spans), key=lambda r: int(r["seq"]))
