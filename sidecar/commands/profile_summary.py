"""What `sidecar profile` tells a person: checks made before reading, warnings, a column table.

Checks before any data is read: the output's directory exists and is writable, the output is
not the input. After the first pass, one warning line per column whose values did not fit its
kind: text in a numeric column (count, share, first data row and value; treated as missing up to
DEFAULT_MAX_BAD_SHARE = 1% of the column, see docs/data.md) and a column of mostly
numbers made categorical by its text. At the end, one table row per profiled column: role, kind,
rows, missing share, invalid count, and the range (numeric) or the top 3 categories with shares.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from sidecar.reference.builder import DEFAULT_MAX_BAD_SHARE, ColumnNote
from sidecar.reference.profile import ColumnProfile, ReferenceProfile

DEFAULT_TOP_SHOWN = 3
NAMED_COLUMN_OPTIONS = ("target", "prediction", "probability", "categorical", "exclude")
"""`sidecar profile` options whose values are column names of the input (when defined)."""
_HEADERS = ("COLUMN", "ROLE", "KIND", "ROWS", "MISSING", "INVALID", "RANGE / TOP CATEGORIES")


def check_output(output: str, data: str) -> None:
    """Raise ValueError unless `output` can be written and is not the input file."""
    target = Path(output)
    if target.is_dir():
        raise ValueError(f"-o {output}: is a directory; give a file such as {target / 'ref.json'}")
    parent = target.parent
    if not parent.is_dir():
        raise ValueError(f"-o {output}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"-o {output}: directory {parent} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"-o {output}: the file exists and is not writable")
    if target.exists() and Path(data).exists() and target.samefile(data):
        raise ValueError(f"-o {output}: is the input file; the profile would overwrite the data")


def named_columns(args: argparse.Namespace) -> dict[str, list[str]]:
    """Option flag -> the input columns it names, for options the parser defines and were set."""
    named: dict[str, list[str]] = {}
    for option in NAMED_COLUMN_OPTIONS:
        value = getattr(args, option, None)
        if value:
            named[f"--{option}"] = [value] if isinstance(value, str) else list(value)
    return named


def note_warnings(notes: Iterable[ColumnNote]) -> Iterator[str]:
    """One line per column whose values did not fit its kind."""
    limit = f"{DEFAULT_MAX_BAD_SHARE:.0%}"
    for note in notes:
        share = note.text_in_numeric / note.present if note.present else 0.0
        if note.kind == "numeric" and note.text_in_numeric:
            where = ""
            if note.first_text is not None:
                row, value = note.first_text
                where = f", first at data row {row:,}: {value[:40]!r}"
            line = (
                f"column {note.name!r}: {note.text_in_numeric:,} value(s) ({share:.2%}) are not "
                f"numbers{where}; left out as missing"
            )
            if share > DEFAULT_MAX_BAD_SHARE:
                line += (
                    f"; that is more than the {limit} a numeric column may hold: pass "
                    f"--categorical {note.name} if the column is categorical"
                )
            yield line
        elif note.kind == "categorical" and note.inferred and note.present:
            numbers = note.numbers_in_categorical / note.present
            if numbers >= 0.5:
                yield (
                    f"column {note.name!r}: {numbers:.1%} numbers but {1 - numbers:.1%} text "
                    f"(more than {limit}), so it was profiled as categorical; clean the text or "
                    f"pass --exclude {note.name}"
                )


def _describe(column: ColumnProfile) -> str:
    """Range of a numeric column, or its top categories with their shares."""
    if column.kind == "numeric":
        if not column.count:
            return "no numbers"
        return f"{column.minimum:.6g} .. {column.maximum:.6g}"
    total = column.count or 1
    if not column.categories:
        return f"{column.other:,} values, none frequent enough to keep (an id-like column?)"
    shown = [f"{name} {count / total:.0%}" for name, count in column.categories[:DEFAULT_TOP_SHOWN]]
    more = len(column.categories) - DEFAULT_TOP_SHOWN + (1 if column.other else 0)
    return ", ".join(shown) + (f", +{more} more" if more > 0 else "")


def _rows(profile: ReferenceProfile) -> Iterator[tuple[str, str, ColumnProfile]]:
    """(name, role, column) for every profiled column, features first."""
    for name, column in profile.features.items():
        yield name, "feature", column
    if profile.target is not None:
        yield profile.target_name or "target", "target", profile.target
    for name, column in profile.predictions.items():
        yield name, "prediction", column


def summary_table(profile: ReferenceProfile) -> str:
    """The column table printed at the end of `sidecar profile`."""
    rows = [_HEADERS]
    for name, role, column in _rows(profile):
        total = column.count + column.missing + column.invalid
        missing = f"{column.missing / total:.1%}" if total else "n/a"
        rows.append(
            (
                name,
                role,
                column.kind,
                f"{total:,}",
                missing,
                f"{column.invalid:,}",
                _describe(column),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS) - 1)]
    right = {3, 4, 5}
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines) + "\n"
