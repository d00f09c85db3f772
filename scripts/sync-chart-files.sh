#!/usr/bin/env bash
# Copy the shipped Prometheus rules (deploy/rules/*.yaml) and Grafana dashboard
# (deploy/grafana/*.json) into the Helm chart, which cannot read files outside its directory.
# Run after changing either; tests/deploy/test_chart_files.py fails while the copies differ.
#
# Usage: scripts/sync-chart-files.sh          copy
#        scripts/sync-chart-files.sh --check  exit 1 (and say which) if a copy is stale
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart_files="$repo_root/helm/model-sidecar/files"
check=0
[[ "${1:-}" == "--check" ]] && check=1

stale=0
sync_dir() {
    local source_dir="$1" pattern="$2" target_dir="$3"
    mkdir -p "$target_dir"
    local src name
    for src in "$source_dir"/$pattern; do
        [[ -e "$src" ]] || continue
        name="$(basename "$src")"
        if ! cmp -s "$src" "$target_dir/$name"; then
            if ((check)); then
                echo "stale: $target_dir/$name differs from $src" >&2
                stale=1
            else
                cp "$src" "$target_dir/$name"
                echo "copied $src"
            fi
        fi
    done
    # Copies whose source is gone.
    for src in "$target_dir"/$pattern; do
        [[ -e "$src" ]] || continue
        name="$(basename "$src")"
        if [[ ! -e "$source_dir/$name" ]]; then
            if ((check)); then
                echo "stale: $target_dir/$name has no source in $source_dir" >&2
                stale=1
            else
                rm "$src"
                echo "removed $src"
            fi
        fi
    done
}

sync_dir "$repo_root/deploy/rules" "*.yaml" "$chart_files/rules"
sync_dir "$repo_root/deploy/grafana" "*.json" "$chart_files/grafana"
exit "$stale"
