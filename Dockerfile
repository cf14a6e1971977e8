# MilAI Watch service image: `milai run` (scheduler + web API).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MILAI_DATA_DIR=/data \
    MILAI_HOST=0.0.0.0 \
    MILAI_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY milai ./milai
COPY crawler ./crawler
COPY scheduler ./scheduler
COPY storage ./storage
COPY alerts ./alerts
COPY api ./api
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 1000 milai \
    && mkdir -p /data && chown milai /data

USER milai
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["milai", "run"]
