# dutydesk in a container: config in /config (dutydesk.toml), data in /data (the embedded SQLite file).
# Secrets come only from the environment: DUTYDESK_SLACK__BOT_TOKEN, DUTYDESK_MATRIX__ACCESS_TOKEN, ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY commands ./commands
COPY storage ./storage
RUN pip install . && useradd --create-home --uid 10001 dutydesk \
    && mkdir -p /config /data && chown dutydesk:dutydesk /data

USER dutydesk
WORKDIR /data
VOLUME ["/config", "/data"]
ENTRYPOINT ["dutydesk"]
# `docker run -it -v dutydesk-data:/data IMAGE run` tries the embedded default (SQLite + console)
CMD ["run", "--config", "/config/dutydesk.toml"]
