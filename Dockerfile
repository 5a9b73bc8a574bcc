# 反诈助手 — the bot as one container: web chat on :8080, Telegram when TELEGRAM_BOT_TOKEN is set.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# CJK fonts for the report charts and the printable leaflets; offline speech for 长辈模式; libGL and GLib for
# OpenCV, under the offline screenshot reader (RapidOCR, whose models come inside its wheel).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk espeak-ng opus-tools libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install .

COPY config.yml ./
COPY nlu ./nlu
COPY stories ./stories
COPY content ./content
# Train once at build time so the container starts in about a second, offline.
RUN python -m bot train

# Listens on all interfaces inside the container; publish it on the host loopback only
# (docker run -p 127.0.0.1:8080:8080 …) behind the reverse proxy, with channels.web.trust_proxy: true.
ENV BOT_DB_PATH=/data/bot.db BOT_WEB_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 8080
CMD ["python", "-m", "bot", "serve"]
