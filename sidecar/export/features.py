"""Which features become metric series, and rows per reference decile bin since start.

Cardinality guard, per model: the first `max_features` (default 100) feature names in order of
first appearance (the reference's features first, in its order) are exported, or with an
allow-list only the listed names; every further name is refused and counted once in `dropped`
(names are remembered up to `DEFAULT_MAX_REFUSED` = 1,024 per model; past that, each sighting of
a new refused name counts).

Fleet-mergeable bins: for the first `bin_features` (default 50) exported features that have a
numeric reference profile, a cumulative count of rows per bin since start. The bins are the
reference-decile groups the PSI of `sidecar.drift` uses (`statistics.decile_boundaries` on the
reference's fine bins), labelled "0" (lowest) to "9" (highest), plus "under" (below the reference
minimum) and "over" (above its maximum). The top group is always "9": when tied deciles merge
(point masses), some middle labels stay empty and have reference fraction 0, so the PSI over the
12 labels with "under" folded into "0" and "over" into "9" (what the recording rule computes) is
exactly `drift`'s PSI, where the tails sit in the first and last group. Counts are plain integers
that only grow, so `sum by (feature, bin)` over replicas is the fleet's histogram.

Bounds: per model, `max_features` names + 1,024 refused names + `bin_features` arrays of 12
int64 (96 bytes each; 4.8 kB for 50 features). One `searchsorted` and one `bincount` per column
per batch.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sidecar.deciles import BIN_LABELS, slot_labels
from sidecar.policies import DEFAULT_BIN_FEATURES
from sidecar.reference.profile import ColumnProfile, ReferenceProfile
from sidecar.sketches.binned import slot_of
from sidecar.sketches.values import ColumnData, split_column

DEFAULT_MAX_FEATURES = 100
DEFAULT_MAX_REFUSED = 1024

IntArray = npt.NDArray[np.int64]


@dataclass
class _Binning:
    """The slot -> bin mapping of one profile, and the counts accumulated on it."""

    profile: ColumnProfile
    edges: npt.NDArray[np.float64]
    labels: npt.NDArray[np.intp]
    counts: IntArray = field(default_factory=lambda: np.zeros(len(BIN_LABELS), dtype=np.int64))


class ModelFeatures:
    """The exported feature names of one model, refused names, and cumulative bin counts."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}
        self.refused: set[str] = set()
        self.dropped = 0
        self.bins: dict[str, _Binning] = {}
        self.reference: ReferenceProfile | None = None

    def bin_counts(self) -> dict[str, dict[str, int]]:
        """Rows per bin label since start, per binned feature."""
        return {
            name: dict(zip(BIN_LABELS, (int(c) for c in b.counts), strict=True))
            for name, b in self.bins.items()
        }

    def binned_profiles(self) -> dict[str, ColumnProfile]:
        """The reference profile each binned feature is currently counted on."""
        return {name: b.profile for name, b in self.bins.items()}


class FeatureExport:
    """Chooses exported features and counts rows per reference decile, per model."""

    def __init__(
        self,
        max_features: int = DEFAULT_MAX_FEATURES,
        bin_features: int = DEFAULT_BIN_FEATURES,
        allow: Sequence[str] | None = None,
    ) -> None:
        if max_features < 1:
            raise ValueError(f"max_features={max_features!r} must be >= 1")
        if bin_features < 0:
            raise ValueError(f"bin_features={bin_features!r} must be >= 0")
        self.max_features = max_features
        self.bin_features = min(bin_features, max_features)
        self.allow = None if allow is None else dict.fromkeys(list(allow)[:max_features])
        self._models: weakref.WeakKeyDictionary[object, ModelFeatures] = weakref.WeakKeyDictionary()

    def model(self, key: object) -> ModelFeatures | None:
        """The state kept for the model whose state object is `key`."""
        return self._models.get(key)

    def observe(
        self,
        key: object,
        features: Mapping[str, ColumnData],
        reference: ReferenceProfile | None,
    ) -> None:
        """Admit new feature names and add a batch of rows to the bin counts."""
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = ModelFeatures()
        if reference is not None and reference is not model.reference:
            # Reference features come first, so a feature that never arrives is still exported.
            model.reference = reference
            self._admit(model, reference.features)
        self._admit(model, features)
        if reference is None or not self.bin_features:
            return
        for name in list(model.names)[: self.bin_features]:
            values = features.get(name)
            profile = reference.features.get(name)
            if values is None or profile is None or profile.kind != "numeric":
                continue
            binning = model.bins.get(name)
            if binning is None or binning.profile is not profile:
                binning = self._rebin(model, name, profile)
            numbers = split_column(values).numbers
            if numbers.size:
                labels = binning.labels[slot_of(binning.edges, numbers)]
                binning.counts += np.bincount(labels, minlength=len(BIN_LABELS))

    def _admit(self, model: ModelFeatures, names: Iterable[str]) -> None:
        for name in names:
            if name in model.names or name in model.refused:
                continue
            allowed = name in self.allow if self.allow is not None else True
            if allowed and len(model.names) < self.max_features:
                model.names[name] = None
                continue
            model.dropped += 1
            if len(model.refused) < DEFAULT_MAX_REFUSED:
                model.refused.add(name)

    @staticmethod
    def _rebin(model: ModelFeatures, name: str, profile: ColumnProfile) -> _Binning:
        """Count on a (new) reference's bins; earlier counts stay, so the counter never drops."""
        old = model.bins.get(name)
        binning = _Binning(profile, profile.edges_array, slot_labels(profile))
        if old is not None:
            binning.counts += old.counts
        model.bins[name] = binning
        return binning
