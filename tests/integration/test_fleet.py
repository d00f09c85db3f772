"""Fleet drift: two replicas' bin counters, merged by the shipped recording rules, give the PSI
one sidecar computes on the whole stream."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from model_traffic import FEATURES, bodies, post_all, rows, write_reference
from prom import needs_prometheus, running_prometheus
from servers import ThreadedUvicorn, running_sidecar

pytestmark = [pytest.mark.prometheus, needs_prometheus]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "rules" / "sidecar-recording.yaml"


def _stream() -> tuple[list[bytes], list[bytes]]:
    """Two different halves: reference-like rows, then shifted rows with tail outliers."""
    first = rows(21, 600)
    second = rows(22, 600, shift=1.0)
    for i, value in enumerate((-40.0, 55.0, 60.0, 1e6)):
        second[i]["x2"] = value
    return bodies(first), bodies(second)


class TestFleetPsi:
    def test_fleet_psi_equals_one_process_psi_on_the_whole_stream(
        self, upstream: ThreadedUvicorn, tmp_path: Path
    ) -> None:
        """For every numeric feature, PromQL's fleet PSI over two replicas equals the PSI a
        third sidecar reports for all rows, to 1e-6."""
        reference = write_reference(tmp_path)
        options = {"reference": reference, "analysis_cpu_share": 1.0, "window_seconds": 3600}
        first, second = _stream()
        with (
            running_sidecar(upstream.url, **options) as a,
            running_sidecar(upstream.url, **options) as b,
            running_sidecar(upstream.url, **options) as whole,
        ):
            targets = [sc.admin_url.removeprefix("http://") for sc in (a, b)]
            with running_prometheus(tmp_path / "prom", targets, rules=[RULES]) as prom:
                prom.wait_for("count(up == 1) == 2")
                post_all(a.url, first)
                post_all(b.url, second)
                post_all(whole.url, first + second)
                for sc in (a, b, whole):
                    assert sc.runtime.worker.wait_idle(30)
                rows_sent = 1_200
                prom.wait_for(
                    'model_sidecar:feature_rows:delta5m{feature="x1"}',
                    lambda r: bool(r) and float(r[0]["value"][1]) == rows_sent,
                )
                fleet = {
                    dict(labels)["feature"]: value
                    for labels, value in prom.values("model_sidecar:feature_psi:fleet_5m").items()
                }
                tails = prom.scalar(
                    'sum(sidecar_feature_bin_rows_total{feature="x2",bin=~"under|over"})'
                )
            api = httpx.get(whole.admin_url + "/api/v1/drift").json()
        assert tails >= 4  # the outliers, plus any shifted value past the reference range
        assert set(fleet) == set(FEATURES)
        for feature in FEATURES:
            column = api["features"][feature]
            assert column["count"] == rows_sent
            assert fleet[feature] == pytest.approx(column["statistics"]["psi"], abs=1e-6)
        assert fleet["x1"] > 0.2 > fleet["x0"]
