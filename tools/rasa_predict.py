"""Predict with a trained Rasa NLU model, for comparison with our own runtime.

Run it with Rasa's own Python (Rasa 3.6 needs Python < 3.11), e.g.

    $RASA_VENV/bin/python tools/rasa_predict.py MODEL.tar.gz tests/data/heldout.jsonl > rasa.jsonl
    .venv/bin/python -m bot evaluate tests/data/heldout.jsonl --predictions rasa.jsonl

Each output line holds the Rasa intent and its confidence; ``evaluate`` maps
intents to scam types exactly as our runtime does (config.yml → nlu.intent_types).
"""

import asyncio
import contextlib
import json
import logging
import sys


def main() -> int:
    model, cases = sys.argv[1], sys.argv[2]
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # Rasa and jieba print progress to stdout
        import rasa.utils.log_utils

        rasa.utils.log_utils.configure_structlog(logging.WARNING)
        from rasa.core.agent import Agent

        logging.getLogger().setLevel(logging.WARNING)
        agent = Agent.load(model)
        with open(cases, encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line in handle if line.strip()]

        async def parse_all():
            for text in texts:
                result = await agent.parse_message(text)
                intent = result.get("intent") or {}
                out.write(json.dumps({"intent": intent.get("name"), "confidence": intent.get("confidence")},
                                     ensure_ascii=False) + "\n")

        asyncio.run(parse_all())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
