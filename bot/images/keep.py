"""Pictures are personal data: by default none is stored, only the text read from it (masked in logs and alerts).

With ``images.keep_days: N`` in config.yml a picture is written under ``var/pictures/<day>/`` (next to the
database) and listed in the ``pictures`` table with its conversation, so the duty desk can look at it; ``python -m
bot purge`` deletes both after N days.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from bot.store import Store, ago, now

log = logging.getLogger(__name__)
KINDS = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpg", b"GIF8": "gif", b"RIFF": "webp"}


def keep_days(settings) -> float:
    return float((settings.raw.get("images") or {}).get("keep_days", 0) or 0)


def folder(settings) -> Path:
    return settings.files_dir / "pictures"


def keep(settings, store: Store, key: str, data: bytes, read_text: str) -> int | None:
    """Store the picture when configured to; its row id, or None (not configured, or the disk refused)."""
    if keep_days(settings) <= 0 or not data:
        return None
    stamp = now()
    kind = next((ext for magic, ext in KINDS.items() if data.startswith(magic)), "bin")
    name = f"{stamp[:10]}/{hashlib.sha256(data).hexdigest()[:20]}.{kind}"
    path = folder(settings) / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        log.error("picture not kept (%s): the text read is still in the conversation", exc.strerror)
        return None
    with store.transaction() as db:
        return db["pictures"].insert({"key": key, "file": name, "bytes": len(data), "read_text": read_text,
                                      "created_at": stamp}).last_pk


def purge(settings, store: Store, days: float | None = None) -> int:
    """Delete kept pictures older than ``days`` (default ``images.keep_days``); how many were deleted."""
    days = keep_days(settings) if days is None else days
    cutoff = ago(days=days)
    with store.transaction() as db:
        rows = list(db.query("select id, file from pictures where created_at < ?", [cutoff]))
        db.execute("delete from pictures where created_at < ?", [cutoff])
    base = folder(settings)
    for row in rows:
        (base / row["file"]).unlink(missing_ok=True)
    for day in sorted(base.glob("*"), reverse=True) if base.exists() else []:
        if day.is_dir() and not any(day.iterdir()):
            day.rmdir()
    return len(rows)
