# Serving image: FastAPI + uvicorn on the LiteRT runtime, without TensorFlow.
#   docker build -t textrec-serve . && docker run -p 8080:8080 textrec-serve
# The `export` stage converts the bundled Keras models (char, line, page detector) with
# TensorFlow; only the .tflite files and their metadata reach the runtime image.
# Offline (no registry; what `nox -s docker` does, see docs/docker.md): a local base image and a
# wheelhouse in docker/wheels, bind-mounted for the pip steps so it never lands in a layer:
#   DOCKER_BUILDKIT=1 docker build --network=none --build-arg BASE_IMAGE=textrec-base:bookworm \
#     --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels -t textrec-serve .
# (RUN --mount needs BuildKit: Docker >= 18.09 with DOCKER_BUILDKIT=1, the default from 23.0.)
ARG PYTHON_VERSION=3.11
ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim

FROM ${BASE_IMAGE} AS export
ARG PIP_NO_INDEX=0
ARG PIP_FIND_LINKS=
WORKDIR /src
COPY pyproject.toml README.md ./
COPY textrec_cli ./textrec_cli
COPY requirements-serve.txt ./
# + the serving requirements: `textrec export` checks the converted graph with LiteRT
RUN --mount=type=bind,source=docker/wheels,target=/wheels \
    pip install --no-cache-dir . -r requirements-serve.txt \
    && textrec export textrec_cli/assets/models/char_cnn --output /models/char_cnn \
    && textrec export textrec_cli/assets/models/line_tcn --output /models/line_tcn --lm \
    && textrec export textrec_cli/assets/models/line_detector --output /models/line_detector

FROM ${BASE_IMAGE} AS runtime
ARG PIP_NO_INDEX=0
ARG PIP_FIND_LINKS=
# The prediction store (SQLite) and other data go to /data, owned by the container's user
# (mount a volume there to keep them; or set TEXTREC_MONITOR_STORE to a postgresql:// URL).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TEXTREC_SERVE_MODELS=/models \
    TEXTREC_LITERT_THREADS=1 \
    TEXTREC_DATA_DIR=/data
WORKDIR /app
COPY requirements-serve.txt ./
RUN --mount=type=bind,source=docker/wheels,target=/wheels \
    pip install --no-cache-dir -r requirements-serve.txt
COPY pyproject.toml README.md ./
COPY textrec_cli ./textrec_cli
RUN --mount=type=bind,source=docker/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps . \
    && rm -rf /app/textrec_cli \
    && useradd --create-home --uid 10001 textrec \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=export /models /models
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# the same deadlines as `textrec serve` (textrec_cli/serving/server.py): request head 10 s
# (TEXTREC_SERVE_HEADER_TIMEOUT), body 30 s then 408 (the app), idle keep-alive 5 s, head <= 16 KiB
# (one line: tests/test_serving_deploy.py runs this command outside Docker)
CMD ["uvicorn", "--factory", "textrec_cli.serving.app:app_from_env", "--host", "0.0.0.0", "--port", "8080", "--http", "textrec_cli.serving.server:DeadlineH11Protocol", "--timeout-keep-alive", "5", "--h11-max-incomplete-event-size", "16384"]
