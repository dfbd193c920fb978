# Serving image: FastAPI + uvicorn on the LiteRT runtime, without TensorFlow.
#   docker build -t textrec-serve . && docker run -p 8080:8080 textrec-serve
# The `export` stage converts the bundled Keras models (char, line, page detector) with
# TensorFlow; only the .tflite files and their metadata reach the runtime image.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS export
WORKDIR /src
COPY pyproject.toml README.md ./
COPY textrec_cli ./textrec_cli
RUN pip install --no-cache-dir . \
    && textrec export textrec_cli/assets/models/char_cnn --output /models/char_cnn \
    && textrec export textrec_cli/assets/models/line_tcn --output /models/line_tcn --lm \
    && textrec export textrec_cli/assets/models/line_detector --output /models/line_detector

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TEXTREC_SERVE_MODELS=/models \
    TEXTREC_LITERT_THREADS=1
WORKDIR /app
COPY requirements-serve.txt ./
RUN pip install --no-cache-dir -r requirements-serve.txt
COPY pyproject.toml README.md ./
COPY textrec_cli ./textrec_cli
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf /app/textrec_cli \
    && useradd --create-home --uid 10001 textrec
COPY --from=export /models /models
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# the same deadlines as `textrec serve` (textrec_cli/serving/server.py): request head 10 s
# (TEXTREC_SERVE_HEADER_TIMEOUT), body 30 s then 408 (the app), idle keep-alive 5 s, head <= 16 KiB
# (one line: tests/test_serving_deploy.py runs this command outside Docker)
CMD ["uvicorn", "--factory", "textrec_cli.serving.app:app_from_env", "--host", "0.0.0.0", "--port", "8080", "--http", "textrec_cli.serving.server:DeadlineH11Protocol", "--timeout-keep-alive", "5", "--h11-max-incomplete-event-size", "16384"]
