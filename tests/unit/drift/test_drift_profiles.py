"""Reference profiles: building from files, two passes, validation, the profile command."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import categories, sample

from sidecar.commands.profile import register, run
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile, load_reference, save_reference
from sidecar.reference.readers import profile_file

ROWS = 3_000


def _table() -> dict[str, list[object]]:
    """A small seeded table: numeric x, integer k, categorical c, label y, prediction p."""
    return {
        "x": sample("normal", ROWS, seed=1).tolist(),
        "k": sample("integer", ROWS, seed=2).tolist(),
        "c": categories(ROWS, seed=3),  # type: ignore[dict-item]
        "y": [float(v) for v in np.random.default_rng(4).integers(0, 2, ROWS)],
        "p": sample("uniform", ROWS, seed=5).tolist(),
    }


def _write(path: Path, table: dict[str, list[object]]) -> Path:
    """Write the table as CSV, JSON Lines or Parquet by extension."""
    names = list(table)
    rows = list(zip(*table.values(), strict=True))
    if path.suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(names, r, strict=True))) + "\n" for r in rows))
    else:
        pq.write_table(pa.table(table), path)
    return path


def _args(data: Path, output: Path, *extra: str) -> argparse.Namespace:
    """Parse `sidecar profile` arguments with the command's own parser."""
    parser = argparse.ArgumentParser(prog="sidecar")
    register(parser.add_subparsers())
    return parser.parse_args(["profile", str(data), "-o", str(output), "--quiet", *extra])


class TestProfileFromFiles:
    """Profiles built from CSV, JSON Lines and Parquet agree with numpy."""

    @pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
    def test_formats_give_the_same_profile(self, tmp_path: Path, suffix: str) -> None:
        """Every format yields the numpy moments, the target and the prediction columns."""
        table = _table()
        builder = ProfileBuilder(target="y", prediction="p")
        profile = profile_file(_write(tmp_path / f"d{suffix}", table), builder, chunk_rows=700)
        x = profile.features["x"]
        assert x.count == ROWS and x.mean == pytest.approx(np.mean(table["x"]), rel=1e-12)
        assert x.std == pytest.approx(np.std(table["x"]), rel=1e-9)
        assert (x.minimum, x.maximum) == (min(table["x"]), max(table["x"]))  # type: ignore[type-var]
        assert sum(x.counts) == ROWS and x.counts[0] == x.counts[-1] == 0
        assert profile.features["c"].kind == "categorical"
        assert dict(profile.features["c"].categories)["c0"] == table["c"].count("c0")
        assert set(profile.features) == {"x", "k", "c"}
        assert profile.target is not None and profile.target_name == "y"
        assert profile.predictions["prediction"].count == ROWS

    def test_two_pass_counts_are_exact(self, tmp_path: Path) -> None:
        """With a sample smaller than the data, the second pass still counts every row."""
        path = _write(tmp_path / "d.csv", _table())
        one = profile_file(path, ProfileBuilder())
        two = profile_file(path, ProfileBuilder(sample_size=500, top_k=3), chunk_rows=400)
        x = two.features["x"]
        assert sum(x.counts) == ROWS
        slots = np.concatenate(([-np.inf], x.edges, [np.inf]))
        expected = np.histogram(_table()["x"], slots)[0]
        assert list(x.counts) == expected.tolist()
        assert one.features["x"].mean == pytest.approx(x.mean, rel=1e-12)
        c = two.features["c"]
        assert len(c.categories) == 3 and sum(n for _, n in c.categories) + c.other == ROWS

    def test_bootstrap_from_live_rows_stops_at_max_rows(self) -> None:
        """add_live takes the first max_rows rows and reports when it is full."""
        builder = ProfileBuilder(max_rows=250)
        assert not builder.add_live({"x": [1.0] * 200}, {"prediction": ["a"] * 200}, 200)
        assert builder.add_live({"x": [2.0] * 200}, {"prediction": ["b"] * 200}, 200)
        profile = builder.build()
        assert profile.rows == 250 and profile.features["x"].count == 250
        assert dict(profile.predictions["prediction"].categories) == {"a": 200, "b": 50}


class TestValidation:
    """Loading rejects malformed profiles with a reason."""

    def _saved(self, tmp_path: Path) -> tuple[Path, dict[str, object]]:
        """A valid saved profile and its JSON."""
        builder = ProfileBuilder()
        builder.add({"x": sample("normal", 500).tolist(), "c": categories(500)})
        path = tmp_path / "ref.json"
        save_reference(builder.build(), path)
        return path, json.loads(path.read_text())

    def test_round_trip(self, tmp_path: Path) -> None:
        """A saved profile loads back equal."""
        path, data = self._saved(tmp_path)
        assert load_reference(path).to_dict() == data
        assert ReferenceProfile.from_dict(data).to_dict() == data

    @pytest.mark.parametrize(
        ("mutate", "reason"),
        [
            (lambda d: d.update(version=9), "version"),
            (lambda d: d["features"]["x"].update(kind="text"), "features.x.kind"),
            (lambda d: d["features"]["x"]["edges"].reverse(), "strictly increasing"),
            (lambda d: d["features"]["x"]["counts"].pop(), "features.x.counts"),
            (lambda d: d["features"]["x"].update(std=-1.0), "negative"),
            (lambda d: d["features"]["c"].update(categories=[["a", -1]]), "categories"),
        ],
    )
    def test_malformed_profiles_raise(self, tmp_path: Path, mutate: object, reason: str) -> None:
        """Each defect raises ValueError naming the field."""
        path, data = self._saved(tmp_path)
        mutate(data)  # type: ignore[operator]
        path.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=reason):
            load_reference(path)

    def test_not_json(self, tmp_path: Path) -> None:
        """A file that is not JSON names the path."""
        path = tmp_path / "bad.json"
        path.write_text("{")
        with pytest.raises(ValueError, match="not valid JSON"):
            load_reference(path)


class TestProfileCommand:
    """`sidecar profile` via run(args) and as a subprocess."""

    def test_run_writes_a_loadable_profile(self, tmp_path: Path) -> None:
        """run() exits 0 and the output loads, with --categorical and --exclude applied."""
        data = _write(tmp_path / "d.jsonl", _table())
        out = tmp_path / "ref.json"
        args = _args(data, out, "--categorical", "k", "--exclude", "y", "--bins", "20")
        assert run(args) == 0
        profile = load_reference(out)
        assert profile.features["k"].kind == "categorical" and "y" not in profile.features
        assert len(profile.features["x"].edges) <= 21 + 12

    def test_bad_input_exits_2_with_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing file exits 2 with one error line naming it."""
        assert run(_args(tmp_path / "missing.csv", tmp_path / "o.json")) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "missing.csv" in err[0]

    def test_subprocess_shows_progress(self, tmp_path: Path) -> None:
        """Run as a process, the command prints a progress line and the summary."""
        data = _write(tmp_path / "d.csv", _table())
        code = (
            "import argparse, sys; from sidecar.commands.profile import register, run;"
            "p = argparse.ArgumentParser(); register(p.add_subparsers());"
            "sys.exit(run(p.parse_args(sys.argv[1:])))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, "profile", str(data), "-o", str(tmp_path / "r.json")],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "rows read (100%)" in result.stderr and "wrote" in result.stderr
