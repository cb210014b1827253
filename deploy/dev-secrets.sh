#!/usr/bin/env bash
# Generate the dev overlay's Secret values once per checkout:  deploy/dev-secrets.sh
# Writes deploy/k8s/overlays/dev/dev-secrets.env (git-ignored, mode 0600) with random values that say
# they are for dev. Values already in the file are kept (tokens and Redis passwords stay valid), a key
# added since the file was written is appended, so a re-run changes nothing once every key is there.
# The dev overlay's secretGenerator reads it (kubectl apply -k fails with "dev-secrets.env: no such
# file" until this has run). Production never uses this: its Secret is created by the operator.
# The values are URL-safe (A-Z a-z 0-9 _ -): the Redis passwords go into redis:// URLs unescaped.
set -euo pipefail
out="$(dirname "$0")/k8s/overlays/dev/dev-secrets.env"
keys=(jwt-secret internal-token retrieval-admin-token redis-gateway-password redis-profile-password
      redis-admin-password)
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(36))'; }
umask 077
tmp="${out}.tmp"
if [[ -s "${out}" ]]; then cp "${out}" "${tmp}"; else : > "${tmp}"; fi
added=()
for key in "${keys[@]}"; do
  if ! grep -q "^${key}=" "${tmp}"; then
    echo "${key}=dev-$(random)" >> "${tmp}"
    added+=("${key}")
  fi
done
if (( ${#added[@]} == 0 )); then
  rm -f "${tmp}"
  exit 0
fi
mv "${tmp}" "${out}"
echo "dev-secrets: wrote ${added[*]} into ${out}"
