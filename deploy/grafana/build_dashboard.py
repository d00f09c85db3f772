"""Generate deploy/grafana/model-sidecar.json, the Grafana dashboard for model-sidecar.

The dashboard is written as code so panel ids and grid positions stay consistent; the JSON it
prints is what ships (and what the Helm chart embeds). Every query uses only names from
docs/metrics.md, plus the recording rule `model_sidecar:feature_psi:fleet_5m`.

Template variables: `datasource` (Prometheus), `namespace`, `model`, `feature` (multi-select,
"All" = `.*`, which also matches series without the label, e.g. outside Kubernetes) and
`statistic` (the drift statistic plotted over time).

Usage: python deploy/grafana/build_dashboard.py > deploy/grafana/model-sidecar.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llm_panels import llm_panels
from panels import (
    DATASOURCE,
    NS,
    NSM,
    NSMF,
    RATE,
    Panel,
    layout,
    panel,
    row,
    stat,
    target,
    timeseries,
)

DASHBOARD_UID = "model-sidecar"
DRIFT_STATISTICS = ("psi", "ks", "js", "wasserstein", "hellinger", "chi2_pvalue")
STATUS_MAPPING = [
    {
        "type": "value",
        "options": {
            "-1": {"text": "unknown", "color": "text", "index": 0},
            "0": {"text": "ok", "color": "green", "index": 1},
            "1": {"text": "warning", "color": "orange", "index": 2},
            "2": {"text": "critical", "color": "red", "index": 3},
        },
    }
]
VERDICT_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "stable", "color": "green", "index": 0},
            "1": {"text": "drifted", "color": "red", "index": 1},
        },
    }
]


def red_panels() -> list[Panel]:
    """Rate, errors and duration of the proxied traffic, and the capture pipeline."""
    duration = "http_server_request_duration_seconds"
    upstream = "sidecar_upstream_duration_seconds"
    responses = f"sum(rate(sidecar_responses_total{{{NS}}}[{RATE}]))"
    return [
        row("Traffic (RED)"),
        timeseries(
            "Request rate by route",
            (f"sum by (http_route) (rate({duration}_count{{{NS}}}[{RATE}]))", "{{http_route}}"),
            unit="reqps",
        ),
        timeseries(
            "Error ratio (5xx)",
            (
                f'(sum(rate(sidecar_responses_total{{{NS}, status_class="5xx"}}[{RATE}]))'
                f" or vector(0)) / {responses}",
                "5xx share",
            ),
            unit="percentunit",
        ),
        timeseries(
            "Latency p50 / p99 (client view and upstream)",
            *(
                (
                    f"histogram_quantile({q}, sum by (le) (rate({name}_bucket{{{NS}}}[{RATE}])))",
                    f"{label} p{int(q * 100)}",
                )
                for name, label in ((duration, "client"), (upstream, "upstream"))
                for q in (0.5, 0.99)
            ),
            unit="s",
        ),
        timeseries(
            "Upstream errors by kind",
            (
                f"sum by (kind) (rate(sidecar_upstream_errors_total{{{NS}}}[{RATE}])) or vector(0)",
                "{{kind}}",
            ),
            unit="reqps",
        ),
        timeseries(
            "Requests in flight",
            (f"sum(http_server_active_requests{{{NS}}})", "in flight"),
        ),
        timeseries(
            "Capture: seen, sampled, dropped",
            (f"sum(rate(sidecar_capture_requests_total{{{NS}}}[{RATE}]))", "seen"),
            (f"sum(rate(sidecar_capture_sampled_total{{{NS}}}[{RATE}]))", "sampled"),
            (
                f"sum by (reason) (rate(sidecar_capture_dropped_total{{{NS}}}[{RATE}]))"
                " or vector(0)",
                "dropped {{reason}}",
            ),
            (
                f"sum by (reason) (rate(sidecar_decode_errors_total{{{NS}}}[{RATE}])) or vector(0)",
                "decode error {{reason}}",
            ),
            unit="reqps",
        ),
        timeseries(
            "Sampling rate, analysis CPU and queue",
            (f"max(sidecar_capture_sampling_rate_ratio{{{NS}}})", "effective sampling rate"),
            (f"max(sidecar_analysis_cpu_ratio{{{NS}}})", "analysis CPU (share of a core)"),
            (f"max(sidecar_capture_queue_depth{{{NS}}})", "queue depth"),
        ),
    ]


def _bin_share(selector: str) -> str:
    """PromQL: each reference bin's share of the rows seen over the rate interval."""
    rows = f"rate(sidecar_feature_bin_rows_total{{{selector}}}[{RATE}])"
    return (
        f"sum by (model, feature, bin) ({rows})"
        f" / ignoring (bin) group_left sum by (model, feature) ({rows})"
    )


def drift_panels() -> list[Panel]:
    """Drift verdicts, the chosen statistic over time, and bin distributions vs reference."""
    verdicts = f"max by (model, feature) (sidecar_feature_drift_detected{{{NSMF}}})"
    chosen = f'max by (model, feature) (sidecar_feature_drift{{{NSMF}, statistic=~"$statistic"}})'
    reference = f"max by (model, feature, bin) (sidecar_feature_reference_fraction{{{NSMF}}})"
    table_transforms = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True},
                "renameByName": {"Value #A": "verdict", "Value #B": "$statistic"},
            },
        },
    ]
    verdict_override = {
        "matcher": {"id": "byName", "options": "verdict"},
        "properties": [
            {"id": "mappings", "value": VERDICT_MAPPING},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }
    table = panel(
        "table",
        "Drift per feature",
        [target(verdicts, ref="A", instant=True), target(chosen, ref="B", instant=True)],
        description="Verdict of each feature's drift rule and its $statistic, current window.",
        transformations=table_transforms,
    )
    table["fieldConfig"]["overrides"] = [verdict_override]
    heatmap_options = {"calculate": False, "yAxis": {"axisPlacement": "left"}, "cellGap": 1}
    return [
        row("Drift"),
        stat(
            "Share of drifted features",
            f"max by (model) (sidecar_dataset_drift_share_ratio{{{NSM}}})",
            "{{model}}",
            unit="percentunit",
        ),
        table,
        timeseries("Drift statistic ($statistic) per feature", (chosen, "{{model}} {{feature}}")),
        timeseries(
            "Fleet PSI per feature (all replicas, 5m)",
            (
                "max by (model, feature) "
                '(model_sidecar:feature_psi:fleet_5m{model=~"$model", feature=~"$feature"})',
                "{{model}} {{feature}}",
            ),
            description="Recording rule over the mergeable bin counters of every replica.",
        ),
        panel(
            "heatmap",
            "Bin distribution, current ($feature)",
            [target(_bin_share(NSMF), "{{bin}}")],
            unit="percentunit",
            description="Share of rows per reference decile bin over time.",
            options=heatmap_options,
        ),
        panel(
            "heatmap",
            "Bin share minus reference ($feature)",
            [target(f"{_bin_share(NSMF)} - on (model, feature, bin) {reference}", "{{bin}}")],
            unit="percentunit",
            description="Positive cells: bins with more rows than in the reference profile.",
            options=heatmap_options,
        ),
        timeseries(
            "Prediction drift ($statistic)",
            (
                "max by (model, output) "
                f'(sidecar_prediction_drift{{{NSM}, statistic=~"$statistic"}})',
                "{{model}} {{output}}",
            ),
        ),
        timeseries(
            "Feature quantiles (window)",
            (
                f"max by (model, feature, quantile) (sidecar_feature_quantile{{{NSMF}}})",
                "{{feature}} q{{quantile}}",
            ),
        ),
    ]


def quality_panels() -> list[Panel]:
    """Data quality checks per feature and payload-level problems."""
    return [
        row("Data quality"),
        timeseries(
            "Failing rows by check",
            (
                f"max by (model, feature, check) (sidecar_feature_quality_ratio{{{NSMF}}})",
                "{{feature}} {{check}}",
            ),
            unit="percentunit",
        ),
        timeseries(
            "Unseen categories",
            (
                f"max by (model, feature) (sidecar_feature_unseen_ratio{{{NSMF}}})",
                "{{feature}}",
            ),
            unit="percentunit",
        ),
        timeseries(
            "Payload errors and unexpected features",
            (f"max by (model) (sidecar_payload_error_ratio{{{NSM}}})", "payload error share"),
            (f"max by (model) (sidecar_unexpected_features{{{NSM}}})", "unexpected features"),
            (
                f"sum by (model) (increase(sidecar_features_dropped_total{{{NSM}}}[{RATE}]))"
                " or vector(0)",
                "features over the cap",
            ),
        ),
        timeseries(
            "Rows per feature in the window",
            (f"max by (model, feature) (sidecar_feature_rows{{{NSMF}}})", "{{feature}}"),
        ),
    ]


def performance_panels() -> list[Panel]:
    """Realised and estimated model performance and the label feedback loop."""
    return [
        row("Performance"),
        timeseries(
            "Performance from labels",
            (
                f"max by (model, metric) (sidecar_model_performance{{{NSM}}})",
                "{{model}} {{metric}}",
            ),
        ),
        timeseries(
            "Estimated accuracy and low confidence",
            (
                f"max by (model) (sidecar_model_estimated_accuracy_ratio{{{NSM}}})",
                "{{model}} estimated accuracy",
            ),
            (
                f"max by (model) (sidecar_model_low_confidence_ratio{{{NSM}}})",
                "{{model}} low confidence",
            ),
            unit="percentunit",
        ),
        timeseries(
            "Labels and waiting predictions",
            (f"sum by (model) (sidecar_model_labelled_rows{{{NSM}}})", "{{model}} labelled rows"),
            (f"sum(sidecar_prediction_store_entries{{{NS}}})", "predictions awaiting labels"),
        ),
        timeseries(
            "Feedback labels and evictions",
            (
                f"sum by (outcome) (rate(sidecar_feedback_labels_total{{{NS}}}[{RATE}]))",
                "labels {{outcome}}",
            ),
            (
                "sum by (reason) "
                f"(rate(sidecar_prediction_store_evictions_total{{{NS}}}[{RATE}])) or vector(0)",
                "evicted {{reason}}",
            ),
            unit="reqps",
        ),
    ]


def fairness_panels() -> list[Panel]:
    """Fairness gaps and the per-group rates behind them."""
    return [
        row("Fairness"),
        timeseries(
            "Fairness gaps",
            (
                f"max by (model, attribute, metric) (sidecar_fairness_gap{{{NSM}}})",
                "{{attribute}} {{metric}}",
            ),
        ),
        timeseries(
            "Per-group rates",
            (
                "max by (model, attribute, group, metric) "
                f"(sidecar_fairness_group_rate_ratio{{{NSM}}})",
                "{{attribute}}={{group}} {{metric}}",
            ),
            unit="percentunit",
        ),
    ]


def status_panels() -> list[Panel]:
    """The sidecar's own verdict per signal."""
    return [
        row("Status"),
        stat(
            "Status by signal",
            f"max by (signal) (sidecar_status{{{NS}}})",
            "{{signal}}",
            mappings=STATUS_MAPPING,
            description="0 ok, 1 warning, 2 critical, -1 unknown.",
        ),
    ]


def query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-select label_values variable whose "All" also matches an absent label."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
    }


def variables() -> list[dict[str, Any]]:
    """Datasource, namespace, model, feature and drift statistic selectors."""
    statistic = {
        "name": "statistic",
        "label": "drift statistic",
        "type": "custom",
        "query": ",".join(DRIFT_STATISTICS),
        "multi": False,
        "includeAll": False,
        "current": {"selected": True, "text": "psi", "value": "psi"},
        "options": [
            {"selected": stat_name == "psi", "text": stat_name, "value": stat_name}
            for stat_name in DRIFT_STATISTICS
        ],
        "hide": 0,
    }
    return [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "hide": 0,
        },
        query_variable(
            "namespace", "namespace", "label_values(sidecar_capture_requests_total, namespace)"
        ),
        query_variable("model", "model", f"label_values(sidecar_feature_rows{{{NS}}}, model)"),
        query_variable(
            "feature", "feature", f"label_values(sidecar_feature_rows{{{NSM}}}, feature)"
        ),
        statistic,
    ]


def dashboard() -> dict[str, Any]:
    """The whole dashboard as a JSON-ready dict."""
    panels = [
        *status_panels(),
        *red_panels(),
        *drift_panels(),
        *quality_panels(),
        *performance_panels(),
        *fairness_panels(),
        *llm_panels(),
    ]
    return {
        "uid": DASHBOARD_UID,
        "title": "Model sidecar",
        "description": "Traffic, drift, data quality, performance and fairness of models "
        "monitored by model-sidecar.",
        "tags": ["model-sidecar", "ml", "drift"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": variables()},
        "panels": layout(panels),
    }


def main() -> int:
    """Print the dashboard JSON."""
    json.dump(dashboard(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
