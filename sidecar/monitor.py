"""The monitor: what the analysis worker does with captured pairs, and what the API reads.

Per pair: decode (failures counted by protocol and reason), drop redacted fields, then under one
lock fold the rows into the model's windows (drift and quality sketches), its outcome windows
(label-free confidence, group selection rates) and its prediction store (for delayed labels).

Bounds: at most `max_models` (16) models, further names analysed as `other`; per model
(`sidecar.model_state.ModelState`), the window store's and the outcome windows' bounds, one
prediction store of `performance.max_entries` entries (default 1 million, 24 h TTL), payload
error counts for the kept buckets, and a drift latch (`sidecar.signals.hysteresis`).

The monitor owns its lock: every read goes through a method that copies what it returns under
it (`view`, `outcome`, `counters`, `state_dict`), so one report is one moment of one model.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from sidecar import drift
from sidecar import windows as window_views
from sidecar.analysis import GilPause
from sidecar.decoders import MetadataLookup, decode_pair
from sidecar.decoders.routes import model_label, protocol_for_path
from sidecar.model_state import OTHER_MODEL, ModelState, ModelView, MonitorCounters
from sidecar.model_state import MonitorOptions as MonitorOptions  # the monitor's constructor's
from sidecar.outcomes.feedback import FeedbackResult, apply_feedback, parse_feedback
from sidecar.outcomes.predictions import PredictionStore, Probability
from sidecar.outcomes.windows import OutcomeSnapshot
from sidecar.policies import Attribute
from sidecar.records import Captured, Columns, Decoded, DecodeError
from sidecar.reference.builder import ProfileBuilder
from sidecar.reference.profile import ReferenceProfile
from sidecar.windows import WindowStore

log = logging.getLogger("sidecar.monitor")


class ColumnObserver(Protocol):
    """Something fed every analysed batch's feature columns, per model (e.g. the exporter)."""

    def observe(
        self, key: object, features: Columns, reference: ReferenceProfile | None
    ) -> None: ...


class Monitor:
    """Decodes captured pairs and keeps per-model state; thread-safe through one lock."""

    def __init__(
        self,
        options: MonitorOptions | None = None,
        reference: ReferenceProfile | None = None,
        bootstrap: bool = False,
        observers: Sequence[ColumnObserver] = (),
        metadata: MetadataLookup | None = None,
    ) -> None:
        self.options = options or MonitorOptions()
        self.observers = tuple(observers)
        # Names v2 tensors from the upstream's model metadata (fetched by the caller's lookup).
        self.metadata = metadata
        self._policies = self.options.policies
        self._lock = threading.Lock()
        self.reference = reference
        self.bootstrap: ProfileBuilder | None = (
            ProfileBuilder(max_rows=self._policies.bootstrap_rows) if bootstrap else None
        )
        self._decode_errors: Counter[tuple[str, str]] = Counter()
        self.feedback_totals = FeedbackResult(0, 0, 0, 0)
        self._models: dict[str, ModelState] = {}
        self.on_reference: list[Any] = []
        if reference is not None and self.options.calibrate:
            self.calibrate_in_background()

    def view(self, name: str | None, which: str, now: float) -> ModelView | None:
        """A consistent copy of one model's view `which` (busiest when None); None if unseen."""
        with self._lock:
            found = self._model(name)
            if found is None:
                return None
            model, state = found
            snapshot = state.windows.snapshot(which, now)
            errors = state.errors_in(which, now)
            outcome = state.outcomes.snapshot(_outcome_view(which), now)
            reference, latch = self.reference, state.latch
            return ModelView(model, snapshot, errors, reference, outcome, latch, now, which)

    def outcome(
        self, name: str | None, which: str, now: float
    ) -> tuple[str, OutcomeSnapshot] | None:
        """One model's outcome snapshot (busiest when None); None if unseen."""
        with self._lock:
            found = self._model(name)
            if found is None:
                return None
            return found[0], found[1].outcomes.snapshot(_outcome_view(which), now)

    def counters(self) -> MonitorCounters:
        """Decode errors, feedback and prediction store totals, and the models, at one moment."""
        with self._lock:
            states = list(self._models.items())
            busiest = self._model(None)
            return MonitorCounters(
                models=tuple((name, state) for name, state in states),
                busiest=None if busiest is None else busiest[0],
                requests={name: state.requests for name, state in states},
                rows={name: state.rows for name, state in states},
                decode_errors=dict(self._decode_errors),
                analysed=sum(state.requests for _, state in states),
                feedback=self.feedback_totals,
                prediction_entries=sum(len(state.predictions) for _, state in states),
                evictions={
                    reason: sum(s.predictions.evictions.get(reason, 0) for _, s in states)
                    for reason in ("capacity", "ttl")
                },
            )

    def holds(self, request_id: str) -> bool:
        """Whether any model's prediction store holds this request id."""
        with self._lock:
            return any(request_id in state.predictions for state in self._models.values())

    def _model(self, name: str | None = None) -> tuple[str, ModelState] | None:
        """The named model's state, or the busiest model's when no name is given."""
        if name is not None:
            state = self._models.get(name)
            return None if state is None else (name, state)
        if not self._models:
            return None
        return max(self._models.items(), key=lambda item: item[1].requests)

    def _state(self, name: str) -> ModelState:
        if name not in self._models and len(self._models) >= self.options.max_models:
            name = OTHER_MODEL
        state = self._models.get(name)
        if state is None:
            state = self._models[name] = ModelState(self.options, self.reference)
        return state

    def ingest(self, batch: Sequence[Captured], now: float) -> None:
        """Decode a batch and fold it into the windows; never raises for bad payloads."""
        protocol = self.options.protocol
        decoded: list[tuple[Captured, Decoded]] = []
        errors: list[tuple[Captured, str, str]] = []
        pause = GilPause()
        for pair in batch:
            try:
                decoded.append(
                    (pair, decode_pair(pair, self.options.decode, protocol, metadata=self.metadata))
                )
            except DecodeError as exc:
                errors.append(
                    (pair, protocol or protocol_for_path(pair.path) or "auto", exc.reason)
                )
            pause()
        # Admin readers take the lock in worker threads, never on the event loop, so handing
        # the GIL over while holding it stalls no proxied request.
        with self._lock:
            for pair, name, reason in errors:
                self._decode_errors[(name, reason)] += 1
                state = self._state(self.options.model or model_label(pair.path))
                state.count_payload_error(now)
                state.requests += 1
            groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Decoded]] = {}
            for pair, payload in decoded:
                payload = self._redacted(payload)
                name = self._name(payload)
                self._outcomes(self._state(name), pair, payload, now)
                key = (name, tuple(payload.features), tuple(payload.predictions))
                groups.setdefault(key, []).append(payload)
                pause()
            for (name, _, _), payloads in groups.items():
                self._observe(self._state(name), payloads, now)
                pause()

    def _name(self, payload: Decoded) -> str:
        return self.options.model or payload.model or "default"

    def _redacted(self, payload: Decoded) -> Decoded:
        redact = self._policies.redact
        if not redact:
            return payload
        return Decoded(
            payload.protocol,
            payload.model,
            payload.n_rows,
            _without(payload.features, redact),
            _without(payload.predictions, redact),
            payload.probabilities,
        )

    def _observe(self, state: ModelState, payloads: list[Decoded], now: float) -> None:
        """Fold payloads with the same columns into the windows in one vectorised update."""
        # One update per column per batch: the per-call cost dominates for small requests.
        first = payloads[0]
        rows = sum(p.n_rows for p in payloads)
        features = {k: [v for p in payloads for v in p.features[k]] for k in first.features}
        predictions = {
            k: [v for p in payloads for v in p.predictions[k]] for k in first.predictions
        }
        state.requests += len(payloads)
        state.rows += rows
        state.windows.observe(features, predictions, rows, now, requests=len(payloads))
        for observer in self.observers:
            observer.observe(state, features, self.reference)
        if self.bootstrap is not None:
            self._bootstrap(features, predictions, rows)

    def _outcomes(self, state: ModelState, pair: Captured, payload: Decoded, now: float) -> None:
        """Count label-free figures and keep what a later label needs."""
        features, predictions = payload.features, payload.predictions
        predicted = predictions.get("prediction")
        if not predicted:
            return
        groups = self._groups(pair, features, payload.n_rows)
        probabilities: Sequence[Probability] | None = payload.probabilities or (
            predictions.get("probability")
        )  # type: ignore[assignment]
        start = state.outcomes.record_prediction(now, predicted, probabilities, groups)
        state.predictions.put(pair.request_id, start, predicted, probabilities, groups, now)

    def _groups(
        self, pair: Captured, features: Columns, n_rows: int
    ) -> list[tuple[str, ...]] | None:
        attributes = self._policies.attributes
        if not attributes:
            return None
        columns = [_attribute_values(a, pair, features, n_rows) for a in attributes]
        return list(zip(*columns, strict=True))

    def _bootstrap(self, features: Columns, predictions: Columns, n_rows: int) -> None:
        assert self.bootstrap is not None
        if self.bootstrap.add_live(features, predictions, n_rows):
            reference = self.bootstrap.build()
            self.bootstrap = None
            log.info("reference bootstrapped from %d live rows", reference.rows)
            self._set_reference(reference)

    def set_reference(self, reference: ReferenceProfile | None) -> None:
        """Replace the reference (windows keep their counts; see `WindowStore.set_reference`)."""
        with self._lock:
            self.bootstrap = None
            self._set_reference(reference)

    def calibrate(self) -> None:
        """Simulate the drift null tables of the current reference (`drift.calibrate`).

        With traffic, only the columns some model's window holds: a 13,000-column reference
        must not cost minutes of CPU for columns no traffic carries, beside the traffic (each
        is simulated by the first report that tests it). Before any traffic, the first
        `drift.CALIBRATE_AHEAD` columns, so the first reports find them ready.
        """
        with self._lock:
            reference = self.reference
            observed = [
                f"{group}:{name}"
                for state in self._models.values()
                for group in ("features", "predictions")
                for name in state.windows.observed(group)
            ]
        if reference is not None:
            ahead = 0 if observed else drift.CALIBRATE_AHEAD
            drift.calibrate(reference, self._policies.drift, observed=observed, ahead=ahead)

    def calibrate_in_background(self) -> threading.Thread:
        """`calibrate` in a daemon thread, so the first report after a new reference is fast."""
        thread = threading.Thread(target=self._calibrate_quietly, name="calibrate", daemon=True)
        thread.start()
        return thread

    def _calibrate_quietly(self) -> None:
        try:
            self.calibrate()
        except Exception:  # the first report computes them again, and says what failed
            log.exception("drift calibration failed")

    def _set_reference(self, reference: ReferenceProfile | None) -> None:
        changed = reference is not self.reference
        self.reference = reference
        for state in self._models.values():
            state.windows.set_reference(reference)
            state.outcomes.set_reference(None if reference is None else reference.outcomes)
        for callback in self.on_reference:
            callback(reference)
        if changed and reference is not None and self.options.calibrate:
            # Under the lock (bootstrap, PUT): simulate off it, never in the analysis worker.
            self.calibrate_in_background()

    def feedback(self, body: bytes, now: float) -> FeedbackResult:
        """Join posted labels to stored predictions (raises ValueError for a bad body)."""
        parsed = parse_feedback(body)
        with self._lock:
            states = list(self._models.values())
            remaining, invalid = list(parsed.items), parsed.invalid
            total = FeedbackResult(0, 0, 0, 0)
            for state in states:
                held = [i for i in remaining if i.request_id in state.predictions]
                if not held:
                    continue
                result, matched = apply_feedback(state.predictions, held, now)
                state.outcomes.record_joins(matched)
                total = total + result
                ids = {i.request_id for i in held}
                remaining = [i for i in remaining if i.request_id not in ids]
            total = total + FeedbackResult(0, len(remaining), 0, invalid)
            self.feedback_totals = self.feedback_totals + total
        return total

    # --- State snapshots for sidecar.persistence ----------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Copy of the reference, per-model state, decode errors and feedback totals (one moment).

        The prediction stores are copied, not serialised: `plain_state` does that outside the lock.
        """
        with self._lock:
            return self._state_dict()

    def _state_dict(self) -> dict[str, Any]:
        reference = self.reference
        return {
            "reference": None if reference is None else reference.to_dict(),
            "bootstrapping": self.bootstrap is not None,
            "decode_errors": [[p, r, n] for (p, r), n in self._decode_errors.items()],
            "feedback_totals": self.feedback_totals.to_json(),
            "models": {
                name: {
                    "windows": state.windows.to_dict(),
                    "outcomes": state.outcomes.to_dict(),
                    # A copy under the lock; `plain_state` serialises it outside the lock.
                    "predictions": state.predictions.copy(),
                    "payload_errors": [[s, n] for s, n in state.payload_errors.items()],
                    "requests": state.requests,
                    "rows": state.rows,
                }
                for name, state in self._models.items()
            },
        }

    @staticmethod
    def plain_state(data: dict[str, Any]) -> dict[str, Any]:
        """`state_dict()` output with the copied prediction stores turned into plain data."""
        for model in data["models"].values():
            store = model["predictions"]
            if isinstance(store, PredictionStore):
                model["predictions"] = store.to_dict()
        return data

    def load_state(
        self,
        data: dict[str, Any],
        sketched_on: ReferenceProfile | None,
        reference: ReferenceProfile | None,
        now: float,
    ) -> tuple[int, int]:
        """Replace the state with `state_dict()` output, all or nothing (raises on bad data).

        `sketched_on` is the reference the saved sketches were built on; `reference` the one to
        use from now on (when they differ, windows keep their counts, see `set_reference`). A
        pending bootstrap is dropped once there is a reference. Returns (models, predictions).
        """
        with self._lock:
            self._load_state(data, sketched_on, reference, now)
            if reference is not None and self.bootstrap is not None:
                log.info("reference bootstrap already done before the restart: not repeated")
                self.bootstrap = None
            return len(self._models), sum(len(s.predictions) for s in self._models.values())

    def _load_state(
        self,
        data: dict[str, Any],
        sketched_on: ReferenceProfile | None,
        reference: ReferenceProfile | None,
        now: float,
    ) -> None:
        saved_models, saved_reference = self._models, self.reference
        self._models, self.reference = {}, sketched_on
        try:
            for name, raw in data["models"].items():
                state = self._state(str(name))
                state.windows = WindowStore.from_dict(raw["windows"], sketched_on)
                state.outcomes.load_dict(raw["outcomes"])
                # The saved entries under the current bounds, not the saved ones.
                bounds = {
                    "max_entries": state.predictions.max_entries,
                    "ttl_seconds": state.predictions.ttl_seconds,
                    "max_bytes": state.predictions.max_bytes,
                }
                state.predictions = PredictionStore.from_dict({**raw["predictions"], **bounds})
                state.predictions.expire(now)
                state.payload_errors = Counter({float(s): int(n) for s, n in raw["payload_errors"]})
                state.requests, state.rows = int(raw["requests"]), int(raw["rows"])
            decode_errors = Counter({(str(p), str(r)): int(n) for p, r, n in data["decode_errors"]})
            feedback_totals = FeedbackResult.from_json(data["feedback_totals"])
        except Exception:
            self._models, self.reference = saved_models, saved_reference
            raise
        self._decode_errors, self.feedback_totals = decode_errors, feedback_totals
        if reference is not sketched_on:
            self._set_reference(reference)


def _outcome_view(which: str) -> str:
    """The outcome windows' name for a window view, checked (they slide like the drift windows)."""
    if which not in window_views.WINDOW_VIEWS:
        raise ValueError(f"window={which!r} is not one of {', '.join(window_views.WINDOW_VIEWS)}")
    return which


def _without(columns: Columns, names: frozenset[str]) -> Columns:
    return {k: v for k, v in columns.items() if k not in names}


def _attribute_values(
    attribute: Attribute, pair: Captured, features: Columns, n_rows: int
) -> list[str]:
    if attribute.source == "feature":
        column = features.get(attribute.name)
        if column is None:
            return ["missing"] * n_rows
        return ["missing" if v is None else _text(v) for v in column]
    if attribute.source == "header":
        found = next((v for k, v in pair.request_headers if k.lower() == attribute.name), None)
    else:
        values = urllib.parse.parse_qs(pair.query).get(attribute.name)
        found = values[0] if values else None
    return [found if found else "missing"] * n_rows


def _text(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
