"""docs/metrics.md and the exported metrics agree: every exported name is catalogued and every
catalogued name is exported by a sidecar that has seen traffic, labels and a fairness config."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from labelled_sidecar import labelled_sidecar, send_labelled

from sidecar.export.telemetry import metric_names

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "metrics.md"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Metric family names of a sidecar after predictions, a bad payload and labels."""
    with labelled_sidecar(tmp_path_factory.mktemp("catalogue")) as sc:
        send_labelled(sc, seed=9)
        yield set(metric_names(sc.runtime.telemetry.registry))


def _catalogued() -> set[str]:
    """Names in the first column of the catalogue's tables."""
    return set(re.findall(r"^\| `([a-z_:]+)` \|", CATALOGUE.read_text(), re.M))


GENAI_PREFIXES = ("gen_ai_", "sidecar_gen_ai_")
"""Exported only after LLM traffic: tests/integration/test_genai.py checks them both ways."""


def _family(name: str) -> str:
    """prometheus_client's family name of a catalogued sample name (counters lose `_total`)."""
    return name.removesuffix("_total")


class TestMetricsCatalogue:
    def test_every_exported_name_is_catalogued(self, exported: set[str]) -> None:
        """No exported metric family is missing from docs/metrics.md."""
        catalogued = {_family(n) for n in _catalogued()}
        assert exported - catalogued == set()

    def test_every_catalogued_name_is_exported(self, exported: set[str]) -> None:
        """Every metric docs/metrics.md lists is exported by a sidecar with traffic and labels."""
        catalogued = {n for n in _catalogued() if not n.startswith(GENAI_PREFIXES)}
        missing = {n for n in catalogued if _family(n) not in exported}
        assert missing == set()

    def test_the_catalogue_is_not_empty(self) -> None:
        """The table parser finds the catalogue (so the two tests above can fail)."""
        assert len(_catalogued()) >= 30
