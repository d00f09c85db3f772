"""The page: distributions against numpy, and markup drawn defensively from the API's shapes."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from page_sources import NOW, WINDOW, drifted_sources, reference, shifted_values

from sidecar.distributions import binned_quantiles, column_distribution
from sidecar.history import History
from sidecar.page import PageSources, page_data, page_headers, render_page
from sidecar.page.svg import Series, line_chart, nice_top
from sidecar.recorder import HistoryRecorder
from sidecar.sketches.column import CategoricalColumnSketch, NumericColumnSketch
from sidecar.sketches.values import split_column

NONCE = "n0nce"


def _numeric_sketch(values: np.ndarray) -> NumericColumnSketch:
    profile = reference().features["x0"]
    sketch = NumericColumnSketch(profile.edges_array)
    sketch.update(split_column([float(v) for v in values]))
    return sketch


class TestDistributions:
    def test_display_bins_match_numpy_histogram_of_the_raw_values(self) -> None:
        """Regrouped fine bins give np.histogram's fractions on the same edges within 1%."""
        profile = reference().features["x0"]
        values = shifted_values(0.7)
        found = column_distribution(profile, _numeric_sketch(values))
        assert found is not None and found.kind == "numeric" and len(found.reference) == 20
        counts, _ = np.histogram(values, bins=np.asarray(found.edges))
        np.testing.assert_allclose(found.window, counts / values.size, atol=0.01)
        inside = sum(found.window)
        assert inside + found.below[1] + found.above[1] == pytest.approx(1.0)
        assert found.above[1] == pytest.approx(np.mean(values > found.edges[-1]), abs=0.01)
        assert sum(found.reference) + found.below[0] + found.above[0] == pytest.approx(1.0)

    def test_binned_quantiles_match_numpy(self) -> None:
        """p10/p50/p90 from slot counts are within 0.05 of np.quantile on 400 values."""
        profile = reference().features["x0"]
        values = shifted_values(0.3)
        counts = _numeric_sketch(values).binned
        assert counts is not None
        found = binned_quantiles(profile.edges_array, counts.counts.astype(float), (0.1, 0.5, 0.9))
        assert found is not None
        np.testing.assert_allclose(found, np.quantile(values, [0.1, 0.5, 0.9]), atol=0.05)

    def test_category_shares_are_the_counts_over_the_total(self) -> None:
        """Each category's window share is its count over all values, unseen ones in "other"."""
        profile = reference().features["colour"]
        sketch = CategoricalColumnSketch(profile.category_names)
        sketch.update(split_column(["red"] * 6 + ["blue"] * 3 + ["purple"]))
        found = column_distribution(profile, sketch)
        assert found is not None
        shares = dict(zip(found.labels, found.window, strict=True))
        assert shares == {"red": 0.6, "green": 0.0, "blue": 0.3, "other": 0.1}
        assert sum(found.reference) == pytest.approx(1.0)

    def test_no_reference_gives_no_distribution(self) -> None:
        """Without a reference profile there is nothing to compare: None."""
        assert column_distribution(None, _numeric_sketch(shifted_values(0.0))) is None


def _data(shift: float = 1.5, sampled: bool = True) -> dict[str, Any]:
    sources = drifted_sources(shift)
    history = History()
    if sampled:
        HistoryRecorder(sources, history, WINDOW).sample(NOW + WINDOW + 0.5)
    return page_data(PageSources(sources, history, WINDOW), None, "current", NOW + WINDOW + 1)


def _svgs(html: str) -> int:
    return len(re.findall(r"<svg class=\"chart\"", html))


class TestRender:
    def test_the_drifted_feature_is_marked_and_charts_are_drawn(self) -> None:
        """x0 shifted by 1.5 sd carries data-drift="true"; every section has its charts."""
        html = render_page(_data(), NONCE, 10)
        assert 'data-column="x0" data-drift="true"' in html
        assert 'data-column="colour" data-drift="false"' in html
        assert _svgs(html) >= 10
        assert 'class="threshold"' in html
        assert '<meta http-equiv="refresh" content="10">' in html
        for section in ("signals", "features", "predictions", "performance", "traffic"):
            assert f'<section id="{section}">' in html

    def test_nothing_is_fetched_from_elsewhere(self) -> None:
        """Every src, href and action is relative to the admin port; scripts carry the nonce."""
        html = render_page(_data(), NONCE, 10)
        targets = re.findall(r"(?:src|href|action)=\"([^\"]*)\"", html)
        assert targets and all(t.startswith(("/", "?", "data:")) for t in targets)
        assert "<script src" not in html and html.count("<link") == 1
        assert html.count(f'nonce="{NONCE}"') == 2

    def test_the_csp_allows_only_the_pages_own_nonce(self) -> None:
        """default-src 'none', and script and style only with the response's nonce."""
        policy = page_headers(NONCE)["content-security-policy"]
        assert "default-src 'none'" in policy
        assert f"script-src 'nonce-{NONCE}'" in policy and f"style-src 'nonce-{NONCE}'" in policy

    def test_missing_keys_render_as_dashes(self) -> None:
        """A drift column without statistics and an empty quality document show "—"."""
        data = {"model": "m", "models": ["m"], "drift": {"features": {"x": {"kind": "numeric"}}}}
        html = render_page(data, NONCE, 0)
        assert 'data-column="x" data-drift="unknown"' in html and "—" in html
        assert "http-equiv" not in html

    def test_renamed_keys_degrade_a_cell_not_the_page(self) -> None:
        """Renaming `statistics` and `signals` in the documents leaves the rest of the page."""
        data = _data()
        data["drift"]["features"]["x0"]["stats"] = data["drift"]["features"]["x0"].pop("statistics")
        data["status"]["verdicts"] = data["status"].pop("signals")
        html = render_page(data, NONCE, 0)
        assert 'data-column="x0" data-drift="true"' in html
        assert "no status yet" in html

    def test_a_failing_section_becomes_a_note(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A section that raises is replaced by a note naming the error; others still render."""

        def broken(data: object) -> str:
            raise KeyError("boom")

        monkeypatch.setattr("sidecar.page.render.fairness_section", broken)
        html = render_page(_data(), NONCE, 0)
        assert "this section could not be drawn (KeyError)" in html
        assert 'data-column="x0"' in html

    def test_names_are_escaped(self) -> None:
        """A feature named like markup is shown as text."""
        data = {"model": "<b>m</b>", "drift": {"features": {"<script>x</script>": {}}}}
        html = render_page(data, NONCE, 0)
        assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html

    def test_no_traffic_yet_shows_a_note(self) -> None:
        """Before any model was seen the page says so and still shows signals and traffic."""
        html = render_page({"models": [], "status": {"status": "unknown", "signals": []}}, NONCE, 5)
        assert "no sampled traffic yet" in html and '<section id="traffic">' in html


class TestCharts:
    def test_nice_tops(self) -> None:
        """Axis tops are 1, 2, 2.5 or 5 times a power of ten."""
        assert [nice_top(v) for v in (0.07, 0.2, 0.21, 3.1, 0.0)] == [0.1, 0.2, 0.25, 5.0, 1.0]

    def test_a_gap_breaks_the_line(self) -> None:
        """Points further apart than `gap` are drawn as two polylines."""
        points = [(0.0, 1.0), (10.0, 2.0), (100.0, 1.0), (110.0, 1.5)]
        svg = line_chart([Series("s", points)], "chart", gap=15.0)
        assert svg.count("<polyline") == 2

    def test_a_long_series_draws_marked_stretches_not_dots(self) -> None:
        """Over 60 points: no dot per point; a marked stretch is one thick red polyline."""
        points = [(float(i), 1.0) for i in range(100)]
        marks = [40 <= i < 50 for i in range(100)]
        svg = line_chart([Series("s", points, marks=marks)], "chart")
        assert "<circle" not in svg and svg.count("<polyline") == 2
        assert 'stroke="#dc2626" stroke-width="3"' in svg

    def test_no_points_says_so(self) -> None:
        """An empty series draws a labelled placeholder."""
        assert "no data yet" in line_chart([Series("s", [])], "chart")
