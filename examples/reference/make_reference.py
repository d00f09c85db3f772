"""Write the demo's training data as a CSV and build its reference profile with `sidecar profile`.

    python examples/reference/make_reference.py --out /tmp/ref
    # -> /tmp/ref/train.csv (5,000 rows) and /tmp/ref/reference.json

The CSV holds the seven features, the true `label`, the model's `predicted` class and its `score`
(P(class 1)); the profile is built exactly as a user would for their own training file:

    sidecar profile train.csv -o reference.json --target label --prediction predicted \
        --probability score --categorical region channel group predicted

With `--probability` the profile also holds a calibration map, the reference's realised figures
and its scores, so the sidecar estimates performance before labels arrive (docs/performance.md).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sidecar.commands.cli import main as sidecar
from sidecar.demo.model import (
    CATEGORICAL,
    LABEL,
    PREDICTION,
    SCORE,
    SENSITIVE,
    reference_columns,
    training_data,
)


def write_csv(path: Path, rows: int, seed: int) -> None:
    """The seeded training data, one row per line, with a header."""
    batch, model = training_data(seed, rows)
    columns = reference_columns(batch, model)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(zip(*columns.values(), strict=True))


def main() -> int:
    """Write train.csv and reference.json under --out; returns `sidecar profile`'s status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="output directory")
    parser.add_argument("--rows", type=int, default=5_000, help="training rows")
    parser.add_argument("--seed", type=int, default=7, help="dataset seed")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "train.csv"
    write_csv(data, args.rows, args.seed)
    print(f"wrote {data}", flush=True)
    return sidecar(
        [
            "profile", str(data), "-o", str(args.out / "reference.json"), "--quiet",
            "--target", LABEL, "--prediction", PREDICTION, "--probability", SCORE,
            "--categorical", *CATEGORICAL, SENSITIVE, PREDICTION,
        ]
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
