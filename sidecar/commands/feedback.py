"""`sidecar feedback FILE`: post ground-truth labels from a CSV or JSON Lines file.

The file holds one row per request: CSV with columns `request_id,label`, or JSON Lines with
`{"request_id": ..., "label": ...}` (or `"labels": [...]` for batched requests). Rows are
posted to the admin API's `POST /api/v1/feedback` in batches of `--batch-size` (default 1,000,
at most 10,000), with a progress line on stderr; the summed counts are printed at the end.
Memory: one batch at a time. Rows the API will count as invalid are named on stderr with the
reason and what is allowed (the first DEFAULT_SHOWN_INVALID = 10; a label must be a string, a
boolean or a finite number). The summary is one JSON line on stdout. Exit status: 0 when every
batch was accepted, 1 on a bad file or a rejected batch, 2 when the admin API cannot be reached.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

from sidecar.outcomes.feedback import DEFAULT_MAX_ITEMS, FeedbackResult, parse_item
from sidecar.reference.readers import json_object

DEFAULT_ADMIN_URL = "http://127.0.0.1:9464"
DEFAULT_BATCH_SIZE = 1_000
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_SHOWN_INVALID = 10
FEEDBACK_PATH = "/api/v1/feedback"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `feedback` command to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "feedback",
        help="post ground-truth labels from a CSV or JSON Lines file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, help="CSV (request_id,label) or JSON Lines file")
    parser.add_argument(
        "--admin",
        default=os.environ.get("SIDECAR_ADMIN_URL", DEFAULT_ADMIN_URL),
        help=f"admin API base URL (default $SIDECAR_ADMIN_URL or {DEFAULT_ADMIN_URL})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("SIDECAR_ADMIN_TOKEN"),
        help="bearer token for the admin API (default $SIDECAR_ADMIN_TOKEN)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"labels per POST, in [1, {DEFAULT_MAX_ITEMS:,}] (default {DEFAULT_BATCH_SIZE:,})",
    )
    parser.set_defaults(func=run)
    return parser


def _csv_label(text: str) -> str | float:
    # CSV has no types: numbers are sent as numbers so regression labels work; class labels
    # compare equal either way ("1" and 1.0 are the same class).
    try:
        return float(text)
    except ValueError:
        return text


def _csv_rows(handle: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(handle)
    missing = {"request_id", "label"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{path}: CSV header {reader.fieldnames!r} lacks {sorted(missing)}")
    for row in reader:
        item = {"request_id": row["request_id"], "label": _csv_label(row["label"])}
        yield reader.line_num, item


def _jsonl_rows(handle: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(handle, start=1):
        item = json_object(line, path, number)
        if item is not None:
            yield number, item


def read_numbered_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, feedback item) from a CSV file (by its .csv suffix) or JSON Lines."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = _csv_rows if path.suffix.lower() == ".csv" else _jsonl_rows
        yield from rows(handle, path)


def _batches(
    rows: Iterator[tuple[int, dict[str, Any]]], size: int, path: Path
) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """Rows in batches of `size`, each with the reasons why rows in it are invalid."""
    batch: list[dict[str, Any]] = []
    reasons: list[str] = []
    for number, row in rows:
        try:
            parse_item(row)
        except ValueError as exc:
            reasons.append(f"{path}:{number}: invalid: {exc}")
        batch.append(row)
        if len(batch) == size:
            yield batch, reasons
            batch, reasons = [], []
    if batch:
        yield batch, reasons


def post_file(
    client: httpx.Client, path: Path, batch_size: int, progress: TextIO
) -> FeedbackResult:
    """Post every row of `path` in batches; raises httpx errors and ValueError on bad input."""
    total = FeedbackResult()
    line_open = False
    shown = 0
    for batch, reasons in _batches(read_numbered_rows(path), batch_size, path):
        if reasons and shown < DEFAULT_SHOWN_INVALID:
            listed = reasons[: DEFAULT_SHOWN_INVALID - shown]
            progress.write(("\n" if line_open else "") + "".join(f"{r}\n" for r in listed))
            shown += len(listed)
            line_open = False
        response = client.post(FEEDBACK_PATH, json=batch)
        if response.status_code != 200:
            progress.write("\n" if line_open else "")
            raise ValueError(
                f"the admin API answered {response.status_code}: {response.text[:200]}"
            )
        total = total + FeedbackResult.from_json(response.json())
        progress.write(
            f"\rposted {total.total} labels: {total.matched} matched, {total.unknown} unknown, "
            f"{total.duplicate} duplicate, {total.invalid} invalid"
        )
        progress.flush()
        line_open = True
    if line_open:
        progress.write("\n")
    if total.invalid > shown:
        progress.write(f"({total.invalid - shown:,} more invalid rows not listed)\n")
    return total


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    if not 1 <= args.batch_size <= DEFAULT_MAX_ITEMS:
        print(f"--batch-size {args.batch_size} is not in [1, {DEFAULT_MAX_ITEMS}]", file=sys.stderr)
        return 1
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        with httpx.Client(
            base_url=args.admin, headers=headers, timeout=DEFAULT_TIMEOUT_SECONDS
        ) as client:
            total = post_file(client, args.file, args.batch_size, sys.stderr)
    except httpx.TransportError as exc:
        print(f"cannot reach the admin API at {args.admin}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"sidecar feedback: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(total.to_json()))
    return 0
