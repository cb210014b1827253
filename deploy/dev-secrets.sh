#!/usr/bin/env bash
# Generate the dev overlay's Secret values once per checkout:  deploy/dev-secrets.sh
# Writes deploy/k8s/overlays/dev/dev-secrets.env (git-ignored, mode 0600) with random values that say
# they are for dev; an existing file is kept, so a re-run changes nothing and tokens stay valid.
# The dev overlay's secretGenerator reads it (kubectl apply -k fails with "dev-secrets.env: no such
# file" until this has run). Production never uses this: its Secret is created by the operator.
set -euo pipefail
out="$(dirname "$0")/k8s/overlays/dev/dev-secrets.env"
if [[ -s "${out}" ]]; then
  exit 0
fi
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(36))'; }
umask 077
tmp="${out}.tmp"
{
  echo "jwt-secret=dev-$(random)"
  echo "internal-token=dev-$(random)"
  echo "retrieval-admin-token=dev-$(random)"
} > "${tmp}"
mv "${tmp}" "${out}"
echo "dev-secrets: wrote ${out}"
