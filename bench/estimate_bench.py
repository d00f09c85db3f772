"""Label-free performance estimate against the realised figures, under covariate shift.

Run: `python bench/estimate_bench.py [--seed S] [--rows N] [--windows W]`. A logistic ground
truth over five features; the model's score is the true P(1 | x) (calibrated), or that score
squashed towards 0.5 (0.5 + 0.4 * (p - 0.5)) and rounded to two decimals (miscalibrated). A
reference of 50,000 rows is profiled with `--probability`; then W windows of N rows (default
10 x 5,000) whose features shift from window 5 (three move by 0.75 sd, two shrink to 0.75
sd) while P(label | x) stays the same (covariate shift, no concept drift). Class 1 is
predicted at score >= 0.65.

Each window's predictions go through `OutcomeWindows` twice, once calibrated on the reference
and once on the raw scores (the raw-confidence estimate), and its labels arrive afterwards.
Printed per window: estimated and realised accuracy, F1 and ROC AUC, the raw-confidence
estimates, and the half-width of the accuracy band. Bars (issue 16): |estimate - realised| <=
0.01 for accuracy and <= 0.02 for F1 and ROC AUC in every window; sklearn's realised figures on
the same rows are checked to equal the sidecar's (its binned ROC AUC to within 1e-3 on
continuous scores, exactly on rounded ones).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from sklearn import metrics as skm

from sidecar.outcomes.windows import OutcomeWindows
from sidecar.reference.builder import ProfileBuilder

THRESHOLD = 0.65
WEIGHTS = np.array([6.0, -4.5, 3.5, 2.5, 0.0])
BIAS = -0.4
SHIFT = np.array([0.75, 0.75, 0.0, 0.0, 0.75])
SCALE = np.array([0.75, 0.75, 1.0, 1.0, 1.0])
"""From window 5: three features move by 0.75 sd and two shrink to 0.75 sd, so more rows sit near
the decision boundary and accuracy drops, while P(label | x) stays the same."""
BARS = {"accuracy": 0.01, "f1": 0.02, "roc_auc": 0.02}


def _rows(rng: np.random.Generator, n: int, shifted: bool) -> tuple[Any, Any]:
    """True P(1 | x) and labels for n rows, from the shifted feature distribution or not."""
    x = rng.normal(size=(n, len(WEIGHTS)))
    if shifted:
        x = x * SCALE + SHIFT
    p = 1.0 / (1.0 + np.exp(-(x @ WEIGHTS + BIAS)))
    return p, (rng.random(n) < p).astype(np.int64)


def _score(p: np.ndarray[Any, Any], case: str) -> np.ndarray[Any, Any]:
    if case == "calibrated":
        return p
    return np.round(0.5 + 0.4 * (p - 0.5), 2)


def _reference(p: np.ndarray[Any, Any], y: np.ndarray[Any, Any], case: str) -> Any:
    builder = ProfileBuilder(target="label", probability=["score"], threshold=THRESHOLD)
    builder.add({"label": y.astype(float).tolist(), "score": _score(p, case).tolist()})
    return builder.build().outcomes


def _window_figures(outcomes: OutcomeWindows, start: float) -> dict[str, float]:
    perf = outcomes.snapshot(start, now=start).performance
    assert perf.estimated is not None
    est = perf.estimated
    return {
        "accuracy": est["accuracy"]["value"],
        "f1": est["f1"]["value"],
        "roc_auc": est["roc_auc"]["value"],
        "band": (est["accuracy"]["high"] - est["accuracy"]["low"]) / 2,
        "real_accuracy": perf.accuracy or 0.0,
        "real_f1": perf.f1 or 0.0,
        "real_roc_auc": perf.roc_auc or 0.0,
    }


def run_case(case: str, seed: int, rows: int, windows: int) -> bool:
    """Print one case's table; True when the calibrated estimate meets every bar."""
    rng = np.random.default_rng(seed)
    reference = _reference(*_rows(rng, 50_000, False), case)
    kwargs: dict[str, Any] = {
        "window_seconds": 1.0,
        "threshold": THRESHOLD,
        "scores": "probability",
    }
    calibrated, raw = OutcomeWindows(**kwargs), OutcomeWindows(**kwargs)
    calibrated.set_reference(reference)
    print(f"\n{case} scores (threshold {THRESHOLD}, {windows} windows of {rows:,} rows)")
    print(
        "| window | shift | acc est | acc real | acc raw | band +/- | F1 est | F1 real | F1 raw "
        "| AUC est | AUC real | AUC raw |"
    )
    print("|---" * 12 + "|")
    worst = dict.fromkeys(BARS, 0.0)
    worst_raw = dict.fromkeys(BARS, 0.0)
    for w in range(windows):
        p, y = _rows(rng, rows, w >= windows // 2)
        scores = _score(p, case).tolist()
        for outcomes in (calibrated, raw):
            start = outcomes.record_prediction(float(w), scores)
            outcomes.record_labels(start, scores, y.tolist())
        got, base = _window_figures(calibrated, float(w)), _window_figures(raw, float(w))
        s = np.asarray(scores)
        predicted = (s >= THRESHOLD).astype(int)
        oracle = {
            "accuracy": skm.accuracy_score(y, predicted),
            "f1": skm.f1_score(y, predicted),
            "roc_auc": skm.roc_auc_score(y, s),
        }
        for k in BARS:
            # The realised AUC counts scores in 200 bins: exact on a 0.005 grid, else within 1e-3.
            if abs(got[f"real_{k}"] - oracle[k]) > (1e-3 if k == "roc_auc" else 1e-9):
                raise SystemExit(
                    f"realised {k} {got[f'real_{k}']} differs from sklearn {oracle[k]}"
                )
            worst[k] = max(worst[k], abs(got[k] - oracle[k]))
            worst_raw[k] = max(worst_raw[k], abs(base[k] - oracle[k]))
        print(
            f"| {w} | {'yes' if w >= windows // 2 else 'no'} | {got['accuracy']:.4f} "
            f"| {oracle['accuracy']:.4f} | {base['accuracy']:.4f} | {got['band']:.4f} "
            f"| {got['f1']:.4f} | {oracle['f1']:.4f} | {base['f1']:.4f} "
            f"| {got['roc_auc']:.4f} | {oracle['roc_auc']:.4f} | {base['roc_auc']:.4f} |"
        )
    held = all(worst[k] <= bar for k, bar in BARS.items())
    raw_held = all(worst_raw[k] <= bar for k, bar in BARS.items())
    for name, figures, ok in (("calibrated", worst, held), ("raw-confidence", worst_raw, raw_held)):
        listed = ", ".join(f"{k} {v:.4f} (bar {BARS[k]})" for k, v in figures.items())
        print(f"max |{name} estimate - realised|: {listed} -> {'holds' if ok else 'FAILS'}")
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=1, help="repeat with seeds seed..seed+K-1")
    args = parser.parse_args()
    held = 0
    for seed in range(args.seed, args.seed + args.seeds):
        print(f"\n## seed {seed}")
        results = [
            run_case(case, seed, args.rows, args.windows)
            for case in ("calibrated", "miscalibrated")
        ]
        held += all(results)
    print(f"\ncalibrated estimate held every bar in {held} of {args.seeds} seeded runs")


if __name__ == "__main__":
    main()
