"""The sidecar's live parts, built from settings: telemetry, forwarder, capture and monitor.

`Runtime` owns what lives as long as the process; the proxy and admin listeners only hold a
reference to it. Start-up and shutdown run inside the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from sidecar.analysis import AnalysisWorker, BudgetController
from sidecar.capture import Capture, Sampler, SamplingPolicy
from sidecar.config import ConfigError, Settings
from sidecar.export.features import FeatureExport
from sidecar.export.genai import register_genai_metrics
from sidecar.export.instruments import register_analysis_metrics
from sidecar.export.points import ExportSources
from sidecar.export.telemetry import DURATION_BUCKETS, HttpMetrics, Telemetry
from sidecar.history import History
from sidecar.model_metadata import HttpFetch, MetadataCache
from sidecar.monitor import Monitor, MonitorOptions
from sidecar.persistence import StateStore
from sidecar.policies import build_policies
from sidecar.proxy.connection import UpstreamError, socket_reason
from sidecar.proxy.forwarder import Forwarder, ProxySettings
from sidecar.proxy.pool import probe
from sidecar.recorder import HistoryRecorder
from sidecar.reference.profile import ReferenceProfile, load_reference, save_reference
from sidecar.reports import ReportPolicy
from sidecar.signals.status import StatusSources
from sidecar.signals.traffic import RequestStats

log = logging.getLogger("sidecar")

READY_TIMEOUT = 1.0
"""Seconds /readyz waits for the upstream to accept a connection."""

READY_WINDOW = 30.0
"""Seconds of recent proxied requests whose timeouts /readyz looks at."""

READY_MIN_REQUESTS = 10
"""Fewer recent requests than this never make /readyz fail on timeouts."""


class Runtime:
    """Everything one sidecar process runs, wired together."""

    def __init__(self, settings: Settings, environ: dict[str, str] | None = None) -> None:
        if not settings.upstream:
            raise ConfigError("upstream is required: pass --upstream URL or set SIDECAR_UPSTREAM")
        self.settings = settings
        self.upstream: str = settings.upstream
        self.policies = build_policies(settings)
        self.admin_token = read_admin_token(settings)
        reference, bootstrap = _reference(settings.reference)
        header_attributes = frozenset(
            a.name.encode("latin-1") for a in self.policies.attributes if a.source == "header"
        )
        self.telemetry = Telemetry.create(os.environ if environ is None else environ)
        self.request_stats = RequestStats(DURATION_BUCKETS)
        self.http_metrics = HttpMetrics(self.telemetry, self.request_stats)
        self.capture = Capture(
            Sampler(
                SamplingPolicy(
                    settings.sample_rate,
                    settings.sample_max_per_second,
                    settings.sample_deterministic,
                )
            ),
            max_bytes=settings.capture_max_bytes,
            queue_size=settings.queue_size,
            extra_headers=header_attributes,
        )
        # The exporter's feature cap and fleet-mergeable bin counts see every analysed batch.
        self.feature_export = FeatureExport(
            max_features=settings.max_features,
            bin_features=self.policies.bin_features,
            allow=None
            if self.policies.metric_features is None
            else list(self.policies.metric_features),
        )
        # Fetched in the analysis thread on a model's first v2 payload, never on the event loop.
        self.model_metadata = MetadataCache(
            HttpFetch(self.upstream, host_header=settings.upstream_host_header)
        )
        self.monitor = Monitor(
            MonitorOptions(
                protocol=None if settings.protocol == "auto" else settings.protocol,
                model=settings.model,
                window_seconds=settings.window_seconds,
                rolling_windows=settings.rolling_windows,
                policies=self.policies,
                # Null tables of the drift decision are simulated off the request path, at start
                # and on every reference change, so the first report after one stays fast.
                calibrate=True,
            ),
            reference=reference,
            bootstrap=bootstrap,
            observers=(self.feature_export,),
            metadata=self.model_metadata,
        )
        self.genai = register_genai_metrics(self.telemetry.provider, self.monitor.options.protocol)
        self.worker = AnalysisWorker(
            self.capture,
            self.genai.sink(self.monitor.ingest),
            BudgetController(settings.analysis_cpu_share, settings.sample_rate),
        )
        self.forwarder = Forwarder(
            ProxySettings(
                upstream=self.upstream,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                host_header=settings.upstream_host_header,
                max_connections=settings.max_connections,
                request_id_header=settings.request_id_header,
                drop_headers=header_attributes if self.policies.strip_headers else frozenset(),
            ),
            metrics=self.http_metrics,
            capture=self.capture,
        )
        self.http_metrics.discarded = self.forwarder.pool.discarded
        self.status_sources = StatusSources(
            self.monitor,
            self.request_stats,
            self.capture,
            self.worker,
            settings.analysis_cpu_share,
            policy=ReportPolicy(
                self.policies.drift, tuple(a.label for a in self.policies.attributes)
            ),
            thresholds=self.policies.status,
        )
        self.analysis_metrics = register_analysis_metrics(
            self.telemetry,
            ExportSources(self.status_sources, self.feature_export, self.model_metadata.fetches),
        )
        self.history = History()
        self.recorder = HistoryRecorder(self.status_sources, self.history, settings.window_seconds)
        self._recording: asyncio.Task[None] | None = None
        self.state_store = (
            StateStore(settings.state_dir, history=self.history) if settings.state_dir else None
        )
        if bootstrap and settings.state_dir:
            self.monitor.on_reference.append(self._save_bootstrapped)
        self._snapshots: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Open connections and start background work."""
        if self.state_store is not None:
            self.state_store.restore(self.monitor, time.time())
            self._snapshots = asyncio.ensure_future(self._snapshot_loop(self.state_store))
        await self.forwarder.startup()
        self.worker.start()
        self._recording = asyncio.ensure_future(self.recorder.run())

    async def shutdown(self, deadline: float | None = None) -> None:
        """Stop background work, close connections, flush telemetry.

        Runs once the listeners have drained. The analysis queue is emptied first (until the
        monotonic `deadline`, by default 10 s from now), so the snapshot holds every pair the
        drain answered; what is still queued at the deadline is counted as dropped (`shutdown`)
        and logged.
        """
        await self.forwarder.shutdown()
        left = (time.monotonic() + 10.0 if deadline is None else deadline) - time.monotonic()
        if not await asyncio.to_thread(self.worker.wait_idle, max(left, 0.5), exchanges=False):
            lost = self.capture.discard("shutdown")
            log.warning("%d sampled pairs were not analysed before the grace period ended", lost)
        self.worker.stop()
        self.analysis_metrics.stop()
        if self._recording is not None:
            self._recording.cancel()
        if self._snapshots is not None:
            self._snapshots.cancel()
        if self.state_store is not None:
            await asyncio.to_thread(self.state_store.save, self.monitor, time.time())
        self.telemetry.shutdown()

    def _save_bootstrapped(self, reference: ReferenceProfile | None) -> None:
        """Keep a reference built from live rows as `reference.json` in the state directory."""
        if reference is None:
            return
        path = os.path.join(str(self.settings.state_dir), "reference.json")
        try:
            save_reference(reference, path)
        except OSError as exc:
            log.warning("could not save the bootstrapped reference to %s: %s", path, exc)
        else:
            log.info(
                "bootstrapped reference saved to %s; pass it with --reference to reuse it", path
            )

    async def _snapshot_loop(self, store: StateStore) -> None:
        interval = float(self.settings.snapshot_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(store.save, self.monitor, time.time())
            except Exception:  # a failed snapshot never stops the sidecar
                log.exception("state snapshot to %s failed", store.directory)

    async def upstream_ready(self) -> tuple[bool, str]:
        """Whether the upstream answers: few recent timeouts, a connection, its health path."""
        target = self.forwarder.pool.target
        recent = self.request_stats.span(time.time(), READY_WINDOW)
        share = self.settings.ready_timeout_share
        if recent.total >= READY_MIN_REQUESTS and recent.timeouts >= share * recent.total:
            return False, (
                f"{recent.timeouts} of the last {recent.total} requests to upstream "
                f"{target.netloc} timed out (ready_timeout_share {share:g})"
            )
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port), READY_TIMEOUT
            )
        except (TimeoutError, OSError) as exc:
            reason = (
                "no connection in time" if isinstance(exc, TimeoutError) else socket_reason(exc)
            )
            return False, f"upstream {target.netloc} does not accept connections: {reason}"
        writer.close()
        health = self.settings.upstream_health_path
        if health:
            try:
                status = await probe(self.forwarder.pool, health, READY_TIMEOUT * 2)
            except (TimeoutError, UpstreamError) as exc:
                return False, f"upstream {health} failed: {exc or 'no answer within the timeout'}"
            if not 200 <= status < 300:
                return False, f"upstream {health} answered {status}"
        return True, "upstream accepts connections"


def _reference(value: str | None) -> tuple[ReferenceProfile | None, bool]:
    """The reference profile named in settings; `bootstrap` builds one from live rows."""
    if not value:
        return None, False
    if value == "bootstrap":
        return None, True
    try:
        return load_reference(value), False
    except ValueError as exc:
        raise ConfigError(f"reference={value!r}: {exc}") from None


def read_admin_token(settings: Settings) -> str | None:
    """The admin token from settings or from the file a mounted Secret provides."""
    if settings.admin_token:
        return str(settings.admin_token)
    path = settings.admin_token_file
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise ConfigError(f"admin_token_file={path!r} cannot be read: {exc.strerror}") from None
    if not token:
        raise ConfigError(f"admin_token_file={path!r} is empty")
    return token
