"""The profile's outcome section: `sidecar profile --probability`, old profiles, validation."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from sidecar.commands.profile import register, run
from sidecar.config import ConfigError, load_settings
from sidecar.policies import build_policies
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import load_reference, save_reference


def _csv(path: Path, seed: int = 1, n: int = 4_000, classes: int = 2) -> dict[str, np.ndarray]:
    """Seeded rows with a label and probability columns p0.. (or one score column for 2)."""
    rng = np.random.default_rng(seed)
    vectors = rng.dirichlet(np.ones(classes) * 0.7, n)
    labels = np.array([rng.choice(classes, p=v) for v in vectors])
    table: dict[str, np.ndarray] = {"x": rng.normal(size=n), "label": labels}
    if classes == 2:
        table["score"] = vectors[:, 1]
    else:
        table.update({f"p{k}": vectors[:, k] for k in range(classes)})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(table))
        writer.writerows(zip(*table.values(), strict=True))
    return table


def _args(data: Path, output: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sidecar")
    register(parser.add_subparsers())
    return parser.parse_args(["profile", str(data), "-o", str(output), "--quiet", *extra])


class TestProfileCommand:
    """--target with --probability writes calibration, reference figures and scores."""

    def test_binary_profile_has_outcomes(self, tmp_path: Path) -> None:
        """One score column: figures equal sklearn's at the threshold; it is not a feature."""
        table = _csv(tmp_path / "d.csv")
        out = tmp_path / "ref.json"
        extra = ("--target", "label", "--probability", "score", "--threshold", "0.6")
        assert run(_args(tmp_path / "d.csv", out, *extra)) == 0
        profile = load_reference(out)
        assert profile.outcomes is not None and "score" not in profile.features
        metrics = profile.outcomes.metrics
        predicted = table["score"] >= 0.6
        assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(table["label"], predicted))
        assert metrics["roc_auc"] == pytest.approx(
            skm.roc_auc_score(table["label"], table["score"]), abs=1e-3
        )
        assert profile.outcomes.threshold == 0.6 and sum(profile.outcomes.score_counts) == 4_000

    def test_multiclass_profile_has_one_map_per_class(self, tmp_path: Path) -> None:
        """K probability columns give K maps and the macro figures of the argmax."""
        table = _csv(tmp_path / "d.csv", classes=3)
        out = tmp_path / "ref.json"
        assert (
            run(_args(tmp_path / "d.csv", out, "--target", "label", "--probability", "p0,p1,p2"))
            == 0
        )
        outcomes = load_reference(out).outcomes
        assert outcomes is not None and len(outcomes.calibration.maps) == 3
        vectors = np.column_stack([table[f"p{k}"] for k in range(3)])
        assert outcomes.metrics["f1_macro"] == pytest.approx(
            skm.f1_score(table["label"], vectors.argmax(axis=1), average="macro")
        )

    def test_probability_needs_a_target(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--probability without --target exits 2 with one line saying so."""
        _csv(tmp_path / "d.csv")
        assert run(_args(tmp_path / "d.csv", tmp_path / "o.json", "--probability", "score")) == 2
        assert "need a target" in capsys.readouterr().err


class TestCompatibility:
    """Profiles written before the outcome section still load; a bad section is named."""

    def test_profile_without_outcomes_loads(self, tmp_path: Path) -> None:
        """A version-1 document with no 'outcomes' key loads with outcomes None."""
        builder = ProfileBuilder()
        builder.add({"x": [float(v) for v in range(100)]})
        path = tmp_path / "old.json"
        save_reference(builder.build(), path)
        data = json.loads(path.read_text())
        del data["outcomes"]
        path.write_text(json.dumps(data))
        assert load_reference(path).outcomes is None

    def test_malformed_outcomes_raise(self, tmp_path: Path) -> None:
        """A calibration map whose x is not increasing is rejected, naming the field."""
        _csv(tmp_path / "d.csv")
        out = tmp_path / "ref.json"
        assert (
            run(_args(tmp_path / "d.csv", out, "--target", "label", "--probability", "score")) == 0
        )
        data = json.loads(out.read_text())
        data["outcomes"]["calibration"][1]["x"].reverse()
        out.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=r"outcomes\.calibration\[1\]\.x"):
            load_reference(out)


class TestScoresSetting:
    """performance.scores: validated, and read by the outcome windows."""

    def test_scores_option(self, tmp_path: Path) -> None:
        """`probability` is accepted and reaches the policies; another value names the key."""
        config = tmp_path / "c.yaml"
        config.write_text("performance: {scores: probability}\n")
        settings = load_settings({"config": str(config)}, environ={})
        assert build_policies(settings).scores == "probability"
        config.write_text("performance: {scores: logits}\n")
        with pytest.raises(ConfigError, match=r"performance\.scores='logits'"):
            build_policies(load_settings({"config": str(config)}, environ={}))
