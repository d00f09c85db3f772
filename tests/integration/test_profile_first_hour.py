"""`sidecar profile` as a new user meets it: errors naming what exists, bad values, the table."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.reference.profile import load_reference


def _profile(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `sidecar profile` command."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "profile", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def train(tmp_path: Path) -> Path:
    """200 rows: numeric age and income, categorical region, label 0/1."""
    rows: list[list[object]] = [
        [20 + i % 50, 1000.0 + 3 * i, "nsew"[i % 4], i % 2] for i in range(200)
    ]
    return _write_csv(tmp_path / "train.csv", ["age", "income", "region", "label"], rows)


class TestNamedColumns:
    """Columns named on the command line must exist; the error lists those that do."""

    @pytest.mark.parametrize(
        ("flags", "named"),
        [
            (["--target", "nosuch"], "--target 'nosuch'"),
            (["--categorical", "region", "nosuch"], "--categorical 'nosuch'"),
            (["--exclude", "gone"], "--exclude 'gone'"),
            (["--prediction", "score"], "--prediction 'score'"),
        ],
    )
    def test_unknown_column_exits_2_listing_the_columns(
        self, train: Path, tmp_path: Path, flags: list[str], named: str
    ) -> None:
        """An unknown column exits 2 with one line naming it and every column of the file."""
        result = _profile(str(train), "-o", str(tmp_path / "ref.json"), "--quiet", *flags)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0]
        assert "its columns: age, income, region, label" in lines[0]
        assert not (tmp_path / "ref.json").exists()

    def test_unknown_column_in_json_lines_is_checked_after_the_first_pass(
        self, tmp_path: Path
    ) -> None:
        """JSON Lines rows may add keys later: a key seen on a later row is accepted."""
        data = tmp_path / "d.jsonl"
        data.write_text('{"a": 1}\n{"a": 2, "label": 1}\n')
        ok = _profile(str(data), "-o", str(tmp_path / "r.json"), "--quiet", "--target", "label")
        assert ok.returncode == 0, ok.stderr
        bad = _profile(str(data), "-o", str(tmp_path / "r.json"), "--quiet", "--target", "y")
        assert bad.returncode == 2 and "its columns: a, label" in bad.stderr

    def test_duplicate_header_name_is_an_error(self, tmp_path: Path) -> None:
        """A CSV header naming a column twice exits 2 naming the column and its positions."""
        data = _write_csv(tmp_path / "dup.csv", ["a", "b", "a"], [[1, 2, 3]])
        result = _profile(str(data), "-o", str(tmp_path / "r.json"), "--quiet")
        assert result.returncode == 2
        assert "column 'a' appears twice in the header (columns 1 and 3)" in result.stderr

    def test_duplicate_parquet_column_is_an_error(self, tmp_path: Path) -> None:
        """A Parquet schema naming a column twice exits 2 as a CSV header does."""
        table = pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"])
        pq.write_table(table, tmp_path / "dup.parquet")
        result = _profile(str(tmp_path / "dup.parquet"), "-o", str(tmp_path / "r.json"))
        assert result.returncode == 2 and "column 'a' appears twice" in result.stderr


class TestOutputPath:
    """The output is checked before any data is read."""

    def test_missing_directory_fails_before_reading(self, tmp_path: Path) -> None:
        """A missing output directory is reported even when the data is broken later on."""
        data = tmp_path / "broken.csv"
        data.write_text("a,b\n1,2\n1,2,3\n")  # row 3 is ragged: reading would fail there
        result = _profile(str(data), "-o", str(tmp_path / "missing" / "x.json"))
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"sidecar profile: error: -o {tmp_path / 'missing' / 'x.json'}: directory "
            f"{tmp_path / 'missing'} does not exist"
        )

    def test_output_that_is_a_directory_or_the_input_is_refused(
        self, train: Path, tmp_path: Path
    ) -> None:
        """-o naming a directory, or the input file itself, exits 2 and leaves the data alone."""
        before = train.read_bytes()
        assert "is a directory" in _profile(str(train), "-o", str(tmp_path)).stderr
        same = _profile(str(train), "-o", str(train))
        assert same.returncode == 2 and "is the input file" in same.stderr
        assert train.read_bytes() == before


class TestBadValues:
    """A numeric column with a few text values stays numeric and says so."""

    def test_a_few_bad_values_are_reported_and_treated_as_missing(self, tmp_path: Path) -> None:
        """1 'abc' in 200 numbers: numeric, 1 invalid, warning with count and first data row."""
        rows: list[list[object]] = [["abc" if i == 41 else float(i)] for i in range(200)]
        data = _write_csv(tmp_path / "d.csv", ["x"], rows)
        out = tmp_path / "r.json"
        result = _profile(str(data), "-o", str(out), "--quiet")
        assert result.returncode == 0, result.stderr
        assert (
            "warning: column 'x': 1 value(s) (0.50%) are not numbers, first at data row 42: "
            "'abc'; left out as missing" in result.stderr
        )
        x = load_reference(out).features["x"]
        assert (x.kind, x.count, x.invalid, x.maximum) == ("numeric", 199, 1, 199.0)

    def test_more_bad_values_than_the_share_make_the_column_categorical(
        self, tmp_path: Path
    ) -> None:
        """10% text in a numeric-looking column: categorical, with a warning naming the share."""
        rows: list[list[object]] = [["n/a" if i % 10 == 0 else i] for i in range(300)]
        data = _write_csv(tmp_path / "d.csv", ["x"], rows)
        out = tmp_path / "r.json"
        result = _profile(str(data), "-o", str(out), "--quiet")
        assert result.returncode == 0, result.stderr
        assert "column 'x': 90.0% numbers but 10.0% text (more than 1%)" in result.stderr
        assert load_reference(out).features["x"].kind == "categorical"


class TestSummaryTable:
    """The profile ends with a table of columns."""

    def test_table_names_kind_rows_missing_and_range_or_categories(
        self, train: Path, tmp_path: Path
    ) -> None:
        """One row per column: role, kind, rows, missing share, range or top categories."""
        result = _profile(str(train), "-o", str(tmp_path / "r.json"), "--target", "label")
        assert result.returncode == 0, result.stderr
        rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
        assert rows["COLUMN"][:6] == ["COLUMN", "ROLE", "KIND", "ROWS", "MISSING", "INVALID"]
        assert rows["age"][:6] == ["age", "feature", "numeric", "200", "0.0%", "0"]
        assert rows["age"][6:] == ["20", "..", "69"]
        assert rows["region"][:3] == ["region", "feature", "categorical"]
        assert "e 25%, n 25%, s 25%, +1 more" in " ".join(rows["region"])
        assert rows["label"][:3] == ["label", "target", "numeric"]
        assert "wrote" in result.stderr and "4 columns" in result.stderr


class TestBooleans:
    """A boolean column reads the same from CSV, JSON Lines and Parquet."""

    def test_every_format_spells_booleans_true_and_false(self, tmp_path: Path) -> None:
        """pandas' True/False, TRUE, JSON true and Parquet bool all become 'true'/'false'."""
        values = [True, False, True, True] * 25
        csv_pandas = _write_csv(tmp_path / "p.csv", ["b"], [[str(v)] for v in values])
        csv_upper = _write_csv(tmp_path / "u.csv", ["b"], [[str(v).upper()] for v in values])
        jsonl = tmp_path / "j.jsonl"
        jsonl.write_text("".join(json.dumps({"b": v}) + "\n" for v in values))
        parquet = tmp_path / "q.parquet"
        pq.write_table(pa.table({"b": values}), parquet)
        for data in (csv_pandas, csv_upper, jsonl, parquet):
            out = tmp_path / f"{data.stem}.json"
            assert _profile(str(data), "-o", str(out), "--quiet").returncode == 0
            column = load_reference(out).features["b"]
            assert column.categories == (("true", 75), ("false", 25)), data.name
