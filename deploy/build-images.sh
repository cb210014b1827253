#!/usr/bin/env bash
# Build every movierec image:  deploy/build-images.sh [TAG] [DATA_DIR]
# Needs a Docker engine with BuildKit. Tags movierec/<tier>:TAG for each tier (the Celery worker runs
# from the profile image) and movierec/artifacts:TAG (catalog, index, models, built from DATA_DIR).
# REGISTRY=registry.example.com/ prefixes the names; PUSH=1 pushes the images after building them.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-$(git rev-parse --short HEAD)}"
data="${2:-../shared/data}"
registry="${REGISTRY:-}"
if [[ ! -d "${data}" ]]; then
  echo "build-images: no raw data directory at ${data} (pass it as the second argument)" >&2
  exit 2
fi
export DOCKER_BUILDKIT=1
images=()
# One Dockerfile for every tier: TIER picks its locked packages, its source and its entrypoint.
for tier in embedding retrieval profile ranker gateway; do
  docker build -f deploy/docker/tier.Dockerfile --build-arg "TIER=${tier}" -t "${registry}movierec/${tier}:${tag}" .
  images+=("${registry}movierec/${tier}:${tag}")
done
# The local LLM server of the optional k8s component (deploy/k8s/components/llm).
docker build -f deploy/docker/llm.Dockerfile -t "${registry}movierec/llm:${tag}" .
images+=("${registry}movierec/llm:${tag}")
docker build -f deploy/docker/artifacts.Dockerfile --build-context "data=${data}" \
  -t "${registry}movierec/artifacts:${tag}" .
images+=("${registry}movierec/artifacts:${tag}")
if [[ "${PUSH:-0}" == "1" ]]; then
  for image in "${images[@]}"; do docker push "${image}"; done
fi
printf 'built %s\n' "${images[@]}"
