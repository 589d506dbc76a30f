"""Leave one generator out: how a calibration carries over to an AI generator it was never fitted on, each real AI
pair scored by a calibration refitted without the repository that made it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from detector.calibration import metrics as M
from detector.calibration.assessment import negative_tops, predictions
from detector.calibration.cases import Candidates, QueryCase, calibrated, negatives_of
from detector.fusion import FusionModel, decide


def leave_one_generator_out(
    cands: Candidates,
    tune: Sequence[QueryCase],
    report: Sequence[QueryCase],
    base: FusionModel,
    features: Sequence[str],
) -> dict[str, object]:
    """Each real AI pair scored by a calibration fitted without its generator (every other fitting case kept):
    recall at 1% false alarms on the report negatives, and at that calibration's own `derivative` threshold, per
    generator and pooled; semantic variations are counted apart, with their `copy` verdicts."""
    report_neg = negatives_of(report)
    generators = sorted({c.generator for c in tune if c.generator})
    rows: dict[str, dict[str, object]] = {}
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # group -> found@1%, found@shipped, n, copies
    for g in generators:
        held = [c for c in tune if c.generator == g and c.truth]
        model = calibrated(cands, [c for c in tune if c.generator != g], base, features, f"without {g}")
        preds = predictions(model, cands, [*held, *report_neg])
        t1 = M.threshold_at_far(negative_tops(preds, report_neg), 0.01)
        row: dict[str, object] = {"queries": len(held), "threshold_far1": t1}
        for group in ("ai", "ai_semantic"):
            qs = [M.Query(c.id, c.truth, c.ignore) for c in held if c.group == group]
            if not qs:
                continue
            f1, n = M.recall_at(qs, preds, t1)
            fs, _ = M.recall_at(qs, preds, model.derivative_threshold)
            copies = sum(  # a wrong work called a copy; for a semantic variation, any work
                decide(model, *cand.scored(model)) == "copy"
                for c in held
                if c.group == group
                for cand in cands.get(c.id, [])
                if group == "ai_semantic" or cand.ref not in c.truth
            )
            row[group] = {"queries": n, "recall@FAR1%": f1 / max(1, n), "recall@shipped": fs / max(1, n)}
            for i, v in enumerate((f1, fs, n, copies)):
                pooled[group][i] += v
        rows[g] = row
    return {
        "generators": rows,
        "pooled": {
            group: {
                "queries": n,
                "recall@FAR1%": f1 / max(1, n),
                "recall@FAR1%_ci": M.wilson(f1, n),
                "recall@shipped": fs / max(1, n),
                "copy_verdicts": copies,
            }
            for group, (f1, fs, n, copies) in pooled.items()
        },
    }
