"""Located problems in files that staff edit (``file:line: what is wrong — how to fix it``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, said in English and in Chinese."""

    file: str
    line: int
    message: str  # English: what is wrong — how to fix it
    message_zh: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}: {self.message}"
        if self.message_zh:
            text += f" / {self.message_zh}"
        return text


class InvalidFiles(Exception):
    """Raised when files cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as staff should read it: relative to the project root when possible."""
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)
