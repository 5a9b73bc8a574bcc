"""Where the Simplified Chinese font is: Debian's fonts-noto-cjk (or WenQuanYi), for the leaflet and for
drawing test screenshots."""

from __future__ import annotations

import glob
from dataclasses import dataclass

REGULAR = ("/usr/share/fonts/**/NotoSansCJK-Regular.ttc", "/usr/share/fonts/**/NotoSansCJK*-Regular.otf",
           "/usr/share/fonts/**/wqy-zenhei.ttc", "/usr/share/fonts/**/wqy-microhei.ttc")
BOLD = ("/usr/share/fonts/**/NotoSansCJK-Bold.ttc", "/usr/share/fonts/**/NotoSansCJK*-Bold.otf")
HINT = "install Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk)"


class NoFont(RuntimeError):
    pass


@dataclass(frozen=True)
class Font:
    path: str
    face: int  # index of the Simplified Chinese face in a collection (.ttc), else 0


def _find(patterns) -> str | None:
    for pattern in patterns:
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    return None


def _simplified_face(path: str) -> int:
    """The Simplified Chinese face of a font collection (Noto CJK's first face is Japanese: 令, 直, 骨 differ)."""
    if not path.lower().endswith(".ttc"):
        return 0
    from fontTools.ttLib import TTCollection

    names = [font["name"].getDebugName(1) or "" for font in TTCollection(path, lazy=True).fonts]
    return next((i for i, n in enumerate(names) if n.endswith(" SC") and "Mono" not in n), 0)


def chinese_font(bold: bool = False) -> Font:
    """The Simplified Chinese face of an installed CJK font; bold falls back to regular."""
    path = (_find(BOLD) if bold else None) or _find(REGULAR)
    if path is None:
        raise NoFont(f"no Chinese font found: {HINT}")
    return Font(path, _simplified_face(path))
