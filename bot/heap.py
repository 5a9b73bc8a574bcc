"""Hand freed heap pages back to the system (glibc's ``malloc_trim``).

Without it the allocator keeps the pages of a swapped-out model, or of one OCR reading's working buffers, and the
resident memory stays at its peak. Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes


def trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
