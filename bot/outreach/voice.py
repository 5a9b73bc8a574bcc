"""Short spoken warnings for 长辈模式, offline: espeak-ng's Mandarin voice, then Opus in OGG
(the format Telegram plays as a voice message). Both are Debian packages (espeak-ng,
opus-tools); without them the bot simply sends text."""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

log = logging.getLogger(__name__)
MAX_SECONDS = 30.0


def available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("opusenc"))


def speakable(text: str) -> str:
    """What to read aloud: no emoji, bullets or buttons' brackets; numbers read digit by digit."""
    text = re.sub(r"[⚠️✅❌·•\[\]【】]", "", text)
    text = re.sub(r"\d{3,}", lambda m: " ".join(m.group(0)), text)  # 96110 → 9 6 1 1 0
    return re.sub(r"\s+", " ", text).strip()


@functools.lru_cache(maxsize=64)
def synthesize(text: str, speed: int = 150) -> tuple[bytes, float] | None:
    """OGG/Opus bytes and the duration in seconds, at most 30 s (the text is cut by sentences)."""
    if not available():
        return None
    sentences = [s for s in re.split(r"(?<=[。！？!?\n])", speakable(text)) if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        wav, ogg = Path(tmp) / "voice.wav", Path(tmp) / "voice.ogg"
        while sentences:
            try:
                subprocess.run(["espeak-ng", "-v", "cmn", "-s", str(speed), "-w", str(wav), "".join(sentences)],
                               check=True, capture_output=True, timeout=20)
                with wave.open(str(wav)) as handle:
                    seconds = handle.getnframes() / handle.getframerate()
            except (OSError, subprocess.SubprocessError, wave.Error) as exc:
                log.warning("text to speech failed: %s", exc)
                return None
            if seconds <= MAX_SECONDS or len(sentences) == 1:
                break
            sentences = sentences[:-1]
        else:
            return None
        try:
            subprocess.run(["opusenc", "--quiet", str(wav), str(ogg)], check=True, capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("opus encoding failed: %s", exc)
            return None
        return ogg.read_bytes(), round(min(seconds, MAX_SECONDS), 2)
