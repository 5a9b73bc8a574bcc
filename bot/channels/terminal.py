"""``python -m bot chat``: talk to the bot in a terminal, or pipe a conversation through it.

Each stdin line is one message; ``/image FILE [what you add]`` sends a screenshot or photo. Replies are
printed as text, or with ``--json`` one JSON object per reply:
``{"text", "scam_type", "risk", "escalation_id", "buttons"}`` (and ``"read_text"`` after a picture).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.dialogue.engine import Engine, TurnResult
from bot.images.reader import Reading

CHANNEL = "terminal"


def reply_objects(result: TurnResult) -> list[dict]:
    """The JSON shape of each reply of a turn (also used by the web API)."""
    slots = result.slots
    scam_type = slots.get("scam_type") or result.understanding.scam_type
    return [{"text": reply.text, "scam_type": scam_type, "risk": slots.get("risk") or "none",
             "escalation_id": result.escalation_id, "buttons": [b.title for b in reply.buttons]}
            for reply in result.replies]


def picture_turn(engine: Engine, user: str, line: str) -> TurnResult:
    """``/image FILE [caption]``: the file is read like a picture sent on any other channel."""
    parts = line.split(maxsplit=2)
    path, caption = (parts[1] if len(parts) > 1 else ""), (parts[2] if len(parts) > 2 else "")
    try:
        data = Path(path).read_bytes() if path else b""
    except OSError:
        data = b""
    pictures = engine.pictures
    if not data:
        reading = Reading(error="not_image")
    elif pictures is None:
        reading = Reading(error="off")
    else:
        reading = pictures.read_now(data)
    return engine.handle_picture(CHANNEL, user, reading, caption)


def run(engine: Engine, user: str, as_json: bool) -> int:
    interactive = sys.stdin.isatty() and not as_json
    out = sys.stdout
    if interactive:
        out.write("反诈助手：您好！请说说发生了什么（Ctrl+D 退出）。\n")
    while True:
        if interactive:
            out.write("您：")
            out.flush()
        line = sys.stdin.buffer.readline()
        if not line:
            break
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if text.split(maxsplit=1)[:1] == ["/image"]:
            result = picture_turn(engine, user, text)
        else:
            result = engine.handle(CHANNEL, user, text)
        for obj, reply in zip(reply_objects(result), result.replies):
            if result.read_text is not None:
                obj["read_text"] = result.read_text
            if as_json:
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            else:
                out.write(f"反诈助手：{reply.text}\n")
                if reply.buttons:
                    out.write("  " + "  ".join(f"[{b.title}]" for b in reply.buttons) + "\n")
        out.flush()
    return 0
