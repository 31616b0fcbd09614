#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in deploy/: no cluster, no network.
#   tests/deploy/validate.sh            (from the repository root)
# Needs kubectl (Debian: apt-get install kubernetes-client) and python3; uses the hubaudit
# binary of HUBAUDIT_BIN (default target/debug/hubaudit) for `SUB --help` and to load the
# deployed hubaudit.toml. KUBECTL overrides the kubectl used. Installs nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

kubectl=${KUBECTL:-kubectl}
hubaudit=${HUBAUDIT_BIN:-target/debug/hubaudit}
command -v "$kubectl" >/dev/null 2>&1 || { echo "validate: no kubectl ($kubectl); install it: apt-get install kubernetes-client" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "validate: no python3" >&2; exit 2; }
[[ -x $hubaudit ]] || { echo "validate: no hubaudit binary at $hubaudit (cargo build, or set HUBAUDIT_BIN)" >&2; exit 2; }

# A throwaway kubeconfig whose only cluster is a closed loopback port: nothing here may reach a
# real cluster, whatever ~/.kube/config or $KUBECONFIG say. Every kubectl command used works
# without a server (kustomize, and --local decoding); one that tried would fail, not deploy.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/kubeconfig" <<'KUBECONFIG'
apiVersion: v1
kind: Config
clusters:
  - name: offline
    cluster:
      server: https://127.0.0.1:1
contexts:
  - name: offline
    context:
      cluster: offline
      user: offline
users:
  - name: offline
    user:
      token: offline
current-context: offline
KUBECONFIG
export KUBECONFIG=$tmp/kubeconfig

exec python3 tests/deploy/check_manifests.py --deploy deploy --kubectl "$kubectl" --hubaudit "$hubaudit"
