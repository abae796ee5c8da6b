# The bot as one container: `docker build -t wa-bot . && docker run --env-file .env -v wa-auth:/app/whatsapp_auth wa-bot`
FROM python:3.11.7-slim-bookworm

ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Exactly the files the lock names, checked by hash (scripts/lock.sh writes requirements.lock).
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

RUN useradd --create-home --uid 10001 bot && mkdir -p /app/whatsapp_auth && chown bot:bot /app/whatsapp_auth
COPY --chown=bot:bot . .
USER bot

# SIGTERM reaches python directly (exec form): handlers finish, the session stays linked, exit 0.
STOPSIGNAL SIGTERM
# /healthz when PORT or STATUS_PORT is set (botstatus.py probe); without a port it reports healthy: nothing to check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "botstatus.py", "probe"]
CMD ["python", "bot.py"]
