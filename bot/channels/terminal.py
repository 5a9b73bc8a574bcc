"""``python -m bot chat``: talk to the bot in a terminal, or pipe a conversation through it.

Each stdin line is one message. Replies are printed as text, or with ``--json``
one JSON object per reply: ``{"text", "scam_type", "risk", "escalation_id", "buttons"}``.
"""

from __future__ import annotations

import json
import sys

from bot.dialogue.engine import Engine, TurnResult

CHANNEL = "terminal"


def reply_objects(result: TurnResult) -> list[dict]:
    """The JSON shape of each reply of a turn (also used by the web API)."""
    slots = result.slots
    scam_type = slots.get("scam_type") or result.understanding.scam_type
    return [{"text": reply.text, "scam_type": scam_type, "risk": slots.get("risk") or "none",
             "escalation_id": result.escalation_id, "buttons": [b.title for b in reply.buttons]}
            for reply in result.replies]


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
        result = engine.handle(CHANNEL, user, text)
        for obj, reply in zip(reply_objects(result), result.replies):
            if as_json:
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            else:
                out.write(f"反诈助手：{reply.text}\n")
                if reply.buttons:
                    out.write("  " + "  ".join(f"[{b.title}]" for b in reply.buttons) + "\n")
        out.flush()
    return 0
