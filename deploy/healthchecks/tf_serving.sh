#!/bin/bash
# TF Serving readiness (the image's HEALTHCHECK and the Kubernetes startup/readiness probe):
# exit 0 when every model in the generated models.config has a version AVAILABLE and none
# still starting, loading or failed in the REST status API, else 1 naming the first model
# that is not. The status API lists the versions the server aspires to serve (its version policy),
# so this is the local stack's rule (tandem.stack.backends: every served version AVAILABLE)
# read from the server's side. bash's /dev/tcp instead of curl: the official image has
# neither curl nor Python.
set -euo pipefail
config="${TANDEM_TF_MODELS_CONFIG:-/models/config/models.config}"
port="${TANDEM_TF_REST_PORT:-8501}"
names=$(sed -n 's/^ *name: "\([^"]*\)"$/\1/p' "$config")
[ -n "$names" ] || { echo "no model names in $config" >&2; exit 1; }
for name in $names; do
    reply=$(timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1"
        printf "GET /v1/models/%s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$2" >&3
        cat <&3' _ "$port" "$name") || { echo "$name: no answer" >&2; exit 1; }
    case "$reply" in
        *'"AVAILABLE"'*) ;;
        *) echo "$name: no version AVAILABLE" >&2; exit 1 ;;
    esac
    case "$reply" in
        *'"START"'* | *'"LOADING"'*) echo "$name: a version is still loading" >&2; exit 1 ;;
    esac
    # A version that failed to load ends with an error status (an unloaded one with OK).
    codes=$(grep -o '"error_code": *"[A-Z_]*"' <<<"$reply" || true)
    if [ -n "$codes" ] && grep -qv '"OK"' <<<"$codes"; then
        echo "$name: a version failed to load" >&2; exit 1
    fi
done
