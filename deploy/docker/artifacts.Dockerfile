# syntax=docker/dockerfile:1.7
# Versioned artifacts (everything `make artifacts` builds: catalog Parquet, index vectors + FAISS, maturity
# estimates, collaborative models, taste map, franchises, themes, keyphrases) as an
# image, copied by each tier's init container into an emptyDir. Build from the repository root with
# the raw data (../shared/data here; the publishers' files elsewhere) as a named build context:
#   docker build -f deploy/docker/artifacts.Dockerfile --build-context data=../shared/data \
#     -t movierec/artifacts:TAG .
# The offline steps are the commands of `make artifacts`' targets, in dependency order.

FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
# The runtime and protoc packages, locked with hashes at the versions the tests run with (CPU torch).
COPY requirements/images/artifacts.txt requirements/images/
RUN pip install --no-cache-dir --require-hashes --extra-index-url https://download.pytorch.org/whl/cpu \
      -r requirements/images/artifacts.txt
# Only what the offline jobs need (never the host's .venv, artifacts/ or .run/): the jobs (jobs/) and the
# serving code they reuse (artifact formats, the embedding backends, the rating model's fit).
COPY protos/ protos/
COPY libs/ libs/
COPY services/ services/
COPY jobs/ jobs/
COPY --from=data / /data
ENV MOVIEREC_DATA_DIR=/data MOVIEREC_CACHE_DIR=/cache HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 \
    PYTHONPATH=/src/gen:/src/libs:/src/jobs:/src/services/embedding:/src/services/ranker:/src/services/gateway
# The cache mount keeps embeddings keyed by content hash between builds: an unchanged catalog and
# model are not re-embedded (minutes on a few cores).
RUN --mount=type=cache,target=/cache \
    mkdir gen && python -m grpc_tools.protoc -Iprotos --python_out=gen --grpc_python_out=gen \
      $(find protos -name '*.proto') \
 && python -m movierec_catalog.build \
 && python -m movierec_jobs.index \
 && python -m movierec_catalog.maturity \
 && python -m movierec_jobs.train \
 && python -m movierec_jobs.taste_map \
 && python -m gateway_service.dialogue.franchises \
 && python -m movierec_jobs.themes \
 && python -m movierec_jobs.keyphrases

FROM busybox:1.36.1
# Owned by the pods' user: the index job writes its version directories with mode 0700.
COPY --from=build --chown=10001:10001 /src/artifacts /artifacts
USER 10001:10001
