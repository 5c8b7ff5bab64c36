# e家人 API image: slim, non-root; migrates the database, then serves with uvicorn.
# It runs in prod: it refuses to start until EJIAREN_JWT_SECRET,
# EJIAREN_MEDIA_URL_SECRET and the WeChat app's id and secret are given, and
# EJIAREN_METRICS_TOKEN (or EJIAREN_METRICS_ENABLED=false: no /metrics).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EJIAREN_ENV=prod \
    EJIAREN_MEDIA_DIR=/data/media \
    EJIAREN_DATABASE_URL=sqlite+aiosqlite:////data/ejiaren.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install . && useradd --system --uid 10001 --home /app ejiaren \
    && mkdir -p /data && chown ejiaren /data
COPY alembic.ini ./
COPY migrations ./migrations

USER ejiaren
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
# uvicorn's own X-Forwarded-For handling is off: the app trusts the header only
# from EJIAREN_TRUSTED_PROXIES.
CMD ["sh", "-c", "ejiaren db upgrade && exec uvicorn app.main:app --host 0.0.0.0 --port 8000 --no-proxy-headers --workers ${WEB_CONCURRENCY:-1}"]
