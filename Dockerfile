# dutydesk's image (docs/admin.md, "Container"). The build stage installs dutydesk with the e2e extra (end-to-end
# encryption on Matrix) into a virtual environment, at the versions pinned in constraints.txt; the final stage copies
# only that environment onto a clean base and runs it as an unprivileged user.
#
#   docker build -t dutydesk .
#   docker run --env-file dutydesk.env -v dutydesk-data:/data \
#              -v "$PWD/dutydesk.toml:/config/dutydesk.toml:ro" -p 127.0.0.1:9469:9469 dutydesk
#
# /config/dutydesk.toml is the config; /data holds the SQLite file (when there is no PostgreSQL) and the Matrix key
# store. Secrets come only from the environment (deploy/dutydesk.env.example lists every one).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/dutydesk
WORKDIR /src
COPY constraints.txt pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY adapters ./adapters
COPY commands ./commands
COPY storage ./storage
RUN /opt/dutydesk/bin/pip install --constraint constraints.txt '.[e2e]'

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="dutydesk" \
      org.opencontainers.image.description="Support-desk bot for teams that work in chat" \
      org.opencontainers.image.licenses="MIT"
# Inside the container the ops server (/healthz, /metrics) listens on every interface, so the orchestrator's probes
# and Prometheus reach it; publish its port only where they run. The Matrix key store lives on the data volume.
# These are environment variables and so win over the config file; change them with `-e`.
ENV PATH=/opt/dutydesk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DUTYDESK_OPS__HOST=0.0.0.0 \
    DUTYDESK_MATRIX__STORE_PATH=/data/matrix-store \
    DUTYDESK_LOG_FORMAT=json
RUN groupadd --system --gid 10001 dutydesk \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin dutydesk \
    && mkdir -p /config /data \
    && chown dutydesk:dutydesk /data \
    && chmod 0750 /data
COPY --from=build /opt/dutydesk /opt/dutydesk
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 3000: the Slack events endpoint in HTTP mode ([slack] port); 9469: /healthz and /metrics ([ops] port)
EXPOSE 3000 9469
# /healthz answers 503 when the database is down: urlopen raises, the check fails
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DUTYDESK_OPS__PORT', '9469'), timeout=4)"]
ENTRYPOINT ["dutydesk"]
CMD ["run", "--config", "/config/dutydesk.toml"]
