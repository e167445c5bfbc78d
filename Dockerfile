# hitl review server: the same install as the README (pip install of this checkout) plus the
# PostgreSQL driver, run as an unprivileged user. State goes to the database named by
# HITL_STATE_URL (see compose.yaml and README "Running for a team"); nothing needs to persist in
# the container.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HITL_HOME=/work/.hitl

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hitl_pipeline ./hitl_pipeline
RUN pip install ".[postgres]" && useradd --create-home --uid 10001 hitl && mkdir -p /work && chown hitl /work

USER hitl
WORKDIR /work
EXPOSE 7860
# Process up, state database and source reachable (200), else 503.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=4).status != 200)"
ENTRYPOINT ["hitl"]
CMD ["run", "/work/specs/review.yaml", "--source", "langfuse", "--host", "0.0.0.0", "--port", "7860"]
