"""Read CSV, JSON Lines or Parquet in chunks and build a reference profile (two passes if needed).

Each reader yields `dict[str, list[Value]]` chunks of at most DEFAULT_CHUNK_ROWS = 50,000 rows, so
memory stays bounded by one chunk plus the builder's state (see `sidecar.reference.builder`),
whatever the file size. CSV cells: empty -> None, numbers -> float, `true`/`false` in any case
(pandas writes `True`/`False`) -> "true"/"false", anything else -> str. JSON Lines: one object
per line; numbers -> float, booleans -> "true"/"false", null -> None, nested values -> their JSON
text. Parquet needs pyarrow (`pip install model-sidecar[parquet]`); its booleans -> "true"/"false".
So a boolean reads the same from every format and from live JSON (the decoders' form). A CSV
header or Parquet schema naming a column twice is an error, and so is a column named on the
command line that the file does not hold (`check_columns`, after the first chunk for CSV and
Parquet, whose columns are fixed, and after the first pass for JSON Lines).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sidecar.records import BOOLEAN_TEXT, Columns, Value
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile

DEFAULT_CHUNK_ROWS = 50_000
FORMATS = ("csv", "jsonl", "parquet")
FIXED_SCHEMA = frozenset({"csv", "parquet"})
"""Formats whose first chunk holds every column of the file."""
CSV_BOOLEANS = {"true": BOOLEAN_TEXT[True], "false": BOOLEAN_TEXT[False]}

Progress = Callable[[int, float | None], None]
"""Called after each chunk with rows read so far and the fraction of the file done (if known)."""


def detect_format(path: Path) -> str:
    """File format from the extension; raises ValueError for an unknown one."""
    suffix = path.suffix.lower().lstrip(".")
    aliases = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl"}
    aliases.update(parquet="parquet", pq="parquet")
    if suffix not in aliases:
        raise ValueError(f"{path}: unknown format {suffix!r} (use .csv, .jsonl or .parquet)")
    return aliases[suffix]


def read_chunks(
    path: Path, fmt: str, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[tuple[Columns, float | None]]:
    """Yield (chunk, fraction of the file read) pairs."""
    if fmt == "csv":
        yield from _csv_chunks(path, chunk_rows)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(path, chunk_rows)
    elif fmt == "parquet":
        yield from _parquet_chunks(path, chunk_rows)
    else:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")


def _csv_cell(text: str) -> Value:
    """A CSV cell as a value."""
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return CSV_BOOLEANS.get(text.lower(), text) if len(text) in (4, 5) else text


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[Columns, float | None]]:
    """CSV with a header row, in chunks (stdlib csv)."""
    size = os.path.getsize(path) or 1
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}: empty CSV file (no header row)")
        check_unique(header, path)
        rows: list[list[str]] = []
        for line_number, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise ValueError(
                    f"{path}:{line_number}: {len(row)} fields, header has {len(header)}"
                )
            rows.append(row)
            if len(rows) == chunk_rows:
                # Bytes read so far (ahead by one buffer at most): fine for a progress line.
                done = handle.buffer.tell()  # type: ignore[attr-defined]
                yield _transpose(header, rows), min(1.0, done / size)
                rows = []
        if rows:
            yield _transpose(header, rows), 1.0


def check_unique(names: list[str], path: Path) -> None:
    """Raise ValueError when a header names a column twice (it would be collapsed)."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise ValueError(
                f"{path}: column {name!r} appears twice in the header (columns {seen[name]} and "
                f"{number}); rename one"
            )
        seen[name] = number


def check_columns(named: Mapping[str, Iterable[str]], columns: Iterable[str], path: Path) -> None:
    """Raise ValueError naming the option, the column and the columns that exist."""
    existing = list(columns)
    for option, names in named.items():
        unknown = [name for name in names if name not in existing]
        if unknown:
            listed = ", ".join(repr(u) for u in unknown)
            raise ValueError(
                f"{option} {listed}: no such column in {path}; its columns: " + ", ".join(existing)
            )


def _transpose(header: list[str], rows: list[list[str]]) -> Columns:
    """Rows of CSV text as typed columns."""
    return {name: [_csv_cell(row[i]) for row in rows] for i, name in enumerate(header)}


def _json_value(value: Any) -> Value:
    """A JSON value as a cell."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return BOOLEAN_TEXT[value]
    if isinstance(value, int | float):
        return float(value)
    return json.dumps(value, sort_keys=True)


def json_object(line: str | bytes, path: Path, number: int) -> dict[str, Any] | None:
    """One JSON Lines line as an object (None when blank); errors name the file and line."""
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
    if not isinstance(item, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object per line")
    return item


def _jsonl_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[Columns, float | None]]:
    """JSON Lines objects in chunks; keys missing from a row become None."""
    size = os.path.getsize(path) or 1
    done = 0
    with path.open("rb") as handle:
        rows: list[dict[str, Any]] = []
        for line_number, line in enumerate(handle, start=1):
            done += len(line)
            row = json_object(line, path, line_number)
            if row is None:
                continue
            rows.append(row)
            if len(rows) == chunk_rows:
                yield _json_columns(rows), done / size
                rows = []
        if rows:
            yield _json_columns(rows), 1.0


def _json_columns(rows: list[dict[str, Any]]) -> Columns:
    """JSON objects as typed columns over the union of their keys."""
    names = dict.fromkeys(key for row in rows for key in row)
    return {name: [_json_value(row.get(name)) for row in rows] for name in names}


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[Columns, float | None]]:
    """Parquet record batches via pyarrow."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ValueError(
            "reading Parquet needs pyarrow: pip install 'model-sidecar[parquet]'"
        ) from exc
    try:
        parquet = pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/OSError kinds
        raise ValueError(f"{path}: not a readable Parquet file: {exc}") from exc
    check_unique(list(parquet.schema_arrow.names), path)
    total = parquet.metadata.num_rows or 1
    read = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        data = batch.to_pydict()
        read += batch.num_rows
        yield (
            {name: [_json_value(v) for v in values] for name, values in data.items()},
            read / total,
        )


def profile_file(
    path: str | Path,
    builder: ProfileBuilder,
    fmt: str | None = None,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    named: Mapping[str, Iterable[str]] | None = None,
) -> ReferenceProfile:
    """Profile a file with `builder`, reading it a second time when exact counts need it.

    `named` maps an option (e.g. "--target") to the columns it names; each must exist.
    """
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"{source}: no such file")
    kind = fmt or detect_format(source)
    seen: dict[str, None] = {}
    passes = 0
    while True:
        passes += 1
        for chunk, fraction in read_chunks(source, kind, chunk_rows):
            if passes == 1:
                seen.update(dict.fromkeys(chunk))
                if kind in FIXED_SCHEMA and named:
                    check_columns(named, seen, source)
            builder.add(chunk)
            if progress is not None:
                progress(builder.rows, fraction)
        if passes == 1 and named and seen:
            check_columns(named, seen, source)
        if passes == 2 or not builder.needs_second_pass:
            break
        builder.start_counting()
    if builder.rows == 0:
        raise ValueError(f"{source}: no data rows")
    return builder.build()
