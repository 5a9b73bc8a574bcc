"""Timestamps as the store keeps them: UTC text, ``2026-11-29 17:30:00``, which sorts and compares as time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

FORMAT = "%Y-%m-%d %H:%M:%S"


def now() -> str:
    return datetime.now(timezone.utc).strftime(FORMAT)


def ago(**delta) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).strftime(FORMAT)
