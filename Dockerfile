# One chat node per container. Build: `docker build -t chat-service .`; the compose file in
# this folder builds it for the `chat` service. Every base image is pinned to an exact tag.

# --- web: the browser's Socket.IO client, exactly as web/package-lock.json pins it ---------
FROM node:20.19.3-bookworm-slim AS web
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --omit=dev --ignore-scripts --no-audit --no-fund

# --- build: the locked dependencies, then the package, into a virtualenv --------------------
FROM python:3.11.12-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from the hashed lock alone, so editing the code does not reinstall
# them: this layer changes only with requirements/runtime.txt (`scripts/refresh-lock`).
COPY requirements/runtime.txt requirements/
RUN pip install --require-hashes -r requirements/runtime.txt
# The wheel carries the pages, the static files, the pinned browser client and the HAProxy
# config (setup.py copies them in), so the runtime stage needs nothing but the virtualenv.
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY web/templates/ web/templates/
COPY web/static/ web/static/
COPY --from=web /src/web/node_modules/socket.io-client/dist/ web/node_modules/socket.io-client/dist/
COPY deploy/haproxy/ deploy/haproxy/
COPY chat_tools/ chat_tools/
COPY chat_service/ chat_service/
RUN pip install --no-deps .

# --- runtime: no compilers, no npm, no pip cache; runs as an unprivileged user ------------
FROM python:3.11.12-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="chat-service" \
      org.opencontainers.image.description="Real-time chat node (aiohttp + python-socketio, Redis)"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHAT_HOST=0.0.0.0 \
    CHAT_PORT=5000
RUN groupadd --system --gid 10001 chat \
    && useradd --system --uid 10001 --gid chat --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin chat
# Owned by root and read-only to the node: the process cannot rewrite what it serves.
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 5000
# On SIGTERM the node fails /readyz for CHAT_DRAIN_DELAY seconds (0 unless set) while still
# serving, then drains (members leave their rooms, clients are told to reconnect) and exits 0
# within CHAT_DRAIN_DELAY + 10 s; exec-form ENTRYPOINT makes it PID 1 so the signal reaches it directly.
STOPSIGNAL SIGTERM
# slim has no curl: the image's own Python asks /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CHAT_PORT', '5000'), timeout=2)"]
ENTRYPOINT ["chat-service"]
