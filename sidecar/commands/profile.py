"""`sidecar profile DATA -o reference.json`: build a reference profile from a data file.

Before reading data the output path is checked; a column named by --target, --prediction,
--categorical or --exclude that the file lacks is an error listing the columns it has. Warnings
about values that do not fit a column's kind go to stderr, and the table of profiled columns to
stdout (see `sidecar.commands.profile_summary`). Exit status: 0 written, 2 bad input (one line
on stderr naming the problem).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from sidecar.commands.profile_summary import (
    check_output,
    named_columns,
    note_warnings,
    summary_table,
)
from sidecar.outcomes.labels import DEFAULT_THRESHOLD
from sidecar.reference.builder import DEFAULT_BINS, DEFAULT_TOP_K, ProfileBuilder
from sidecar.reference.profile import save_reference
from sidecar.reference.readers import FORMATS, Progress, profile_file

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `profile` sub-command to the CLI's sub-parsers."""
    parser = subparsers.add_parser(
        "profile",
        help="build a reference profile (JSON) from a CSV, JSON Lines or Parquet file",
        description=(
            "Read DATA in chunks (files larger than memory work; a second pass is made when "
            "exact counts need it) and write a versioned reference profile: per column its "
            "kind, count, missing, min, max, mean, std, quantile bin edges with reference "
            "counts, and top-K category counts."
        ),
    )
    parser.add_argument("data", metavar="DATA", help="input file: .csv, .jsonl/.ndjson, .parquet")
    parser.add_argument("-o", "--output", required=True, help="where to write the profile JSON")
    parser.add_argument(
        "--format", choices=FORMATS, help="input format (default: from DATA's extension)"
    )
    parser.add_argument("--target", metavar="COL", help="label column, profiled as the target")
    parser.add_argument(
        "--prediction", metavar="COL", help="model-output column, profiled as 'prediction'"
    )
    parser.add_argument(
        "--categorical",
        metavar="COL",
        nargs="+",
        action="extend",
        default=[],
        help="treat these columns as categorical (default: inferred: numeric when at most 1%% "
        "of the values are text)",
    )
    parser.add_argument(
        "--exclude", metavar="COL", nargs="+", action="extend", default=[], help="skip columns"
    )
    parser.add_argument(
        "--bins", type=int, default=DEFAULT_BINS, help=f"quantile bins (default {DEFAULT_BINS})"
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=DEFAULT_TOP_K,
        help=f"categories kept per categorical column (default {DEFAULT_TOP_K})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    _add_outcome_options(parser)
    parser.set_defaults(handler=run)


def _add_outcome_options(parser: argparse.ArgumentParser) -> None:
    """--probability and --threshold: the reference's model outputs, for calibration."""
    parser.add_argument(
        "--probability",
        metavar="COL[,COL...]",
        type=lambda text: [name for name in text.split(",") if name],
        default=[],
        help=(
            "model probability columns (needs --target): one column is P(class 1), K columns "
            "are P(class 0..K-1); the profile then stores a calibration map per class, the "
            "reference's realised figures and its confidence distribution"
        ),
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"threshold on P(class 1) for the reference's figures (default {DEFAULT_THRESHOLD})",
    )


class _ProgressLine:
    """A progress printer that rewrites one stderr line; `end()` closes it if one was drawn."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.drawn = False

    def __call__(self, rows: int, fraction: float | None) -> None:
        percent = "" if fraction is None else f" ({fraction:.0%})"
        self.stream.write(f"\rprofiling: {rows:,} rows read{percent}")
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


def run(args: argparse.Namespace) -> int:
    """Build and write the profile; returns the exit status."""
    line = _ProgressLine(sys.stderr)
    try:
        check_output(args.output, args.data)
        builder = ProfileBuilder(
            bins=args.bins,
            top_k=args.top_k,
            categorical=args.categorical,
            exclude=args.exclude,
            target=args.target,
            prediction=args.prediction,
            probability=args.probability,
            threshold=args.threshold,
        )
        progress: Progress | None = None if args.quiet else line
        named = named_columns(args)
        profile = profile_file(args.data, builder, args.format, progress, named=named)
        line.end()
        save_reference(profile, args.output)
    except (ValueError, OSError) as exc:
        line.end()  # one clear line: end the progress line first if one was drawn
        sys.stderr.write(f"sidecar profile: error: {exc}\n")
        return EXIT_BAD_INPUT
    for warning in note_warnings(builder.notes()):
        sys.stderr.write(f"sidecar profile: warning: {warning}\n")
    columns = len(profile.features) + len(profile.predictions) + (profile.target is not None)
    sys.stdout.write(summary_table(profile))
    sys.stderr.write(f"wrote {args.output}: {profile.rows:,} rows, {columns} columns\n")
    return EXIT_OK
