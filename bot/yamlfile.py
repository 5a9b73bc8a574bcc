"""Read YAML files that staff edit, keeping line numbers for error messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from bot.problems import InvalidFiles, Problem, display_path


MAX_FILE_BYTES = 4 * 1024 * 1024  # the largest file staff edit is ~120 KB; anything this big is a mistake


class LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A safe loader (libyaml's C parser when installed) that records the 1-based line of every mapping
    and sequence item."""


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> dict:
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {
        loader.construct_object(k, deep=True): v.start_mark.line + 1 for k, v in node.value
    }
    # Literal blocks ("|") start on the line after their indicator.
    mapping.block_start = {
        loader.construct_object(k, deep=True): v.start_mark.line + (2 if v.style in "|>" else 1)
        for k, v in node.value
        if isinstance(v, yaml.ScalarNode) and v.style
    }
    return mapping


def _construct_sequence(loader: LineLoader, node: yaml.SequenceNode) -> list:
    items = LineList(loader.construct_sequence(node, deep=True))
    items.lines = [child.start_mark.line + 1 for child in node.value]
    items.line = node.start_mark.line + 1
    return items


class LineDict(dict):
    line: int = 0
    key_lines: dict
    block_start: dict

    def line_of(self, key) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LineList(list):
    line: int = 0
    lines: list[int]


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, root: Path | None = None, digests: dict | None = None):
    """Parse ``path``; a syntax error becomes ``InvalidFiles`` with the file and line.

    ``digests`` receives the SHA-256 of exactly the bytes parsed, so a model cache
    key can never describe a different version of the file than the one read.
    """
    name = display_path(path, root)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidFiles([Problem(name, 1, f"file is {size / 1e6:.1f} MB, more than {MAX_FILE_BYTES // 2**20} MB "
                                        "— is this the right file? split it or remove what was pasted by mistake",
                                        f"文件有 {size / 1e6:.1f} MB，超过 {MAX_FILE_BYTES // 2**20} MB — 请确认是不是放错了文件")])
        raw = path.read_bytes()
        if digests is not None:
            digests[str(path)] = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidFiles(
            [Problem(name, 1, f"file is not UTF-8 ({exc.reason}) — save it as UTF-8",
                     "文件不是 UTF-8 编码 — 请用 UTF-8 保存")]
        ) from None
    try:
        return yaml.load(text, Loader=LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or str(exc)
        # An unclosed quote or bracket is noticed lines later (often at the end of the file): name the line
        # where it was opened, which is where the mistake is.
        opened = exc.context_mark is not None and any(
            words in (exc.context or "") for words in ("quoted scalar", "flow sequence", "flow mapping"))
        if opened and exc.problem_mark is not None and exc.problem_mark.line != exc.context_mark.line:
            what += f" (an unclosed quote or bracket opened here; noticed at line {exc.problem_mark.line + 1})"
            mark = exc.context_mark
        line = mark.line + 1 if mark else 1
        raise InvalidFiles(
            [Problem(name, line, f"YAML syntax error: {what} — check indentation, colons and quotes",
                     f"YAML 格式错误：{what} — 请检查缩进、冒号和引号")]
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidFiles([Problem(name, 1, f"YAML error: {exc}", "YAML 错误")]) from None


def read_yaml(path: Path, problems: list[Problem], root: Path | None = None,
              digests: dict | None = None, default=None):
    """Parse ``path`` like ``load_yaml``, but add its problems to ``problems`` and return ``default``."""
    try:
        return load_yaml(path, root, digests)
    except InvalidFiles as exc:
        problems.extend(exc.problems)
        return default


# --- typed access: a value of the wrong shape is a file:line problem, never a traceback ----------------------

def _line(doc, key) -> int:
    return doc.line_of(key) if hasattr(doc, "line_of") else getattr(doc, "line", 1) or 1


def listed(doc, key: str, name: str, problems: list[Problem]) -> list:
    """``doc[key]`` as a list ([] when absent or when ``doc`` is not a mapping); anything else is a problem."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return []
    if isinstance(value, list):
        return value
    problems.append(Problem(name, _line(doc, key), f"'{key}' must be a list of '- ' lines",
                            f"'{key}' 应是以 '- ' 开头的列表"))
    return []


def mapped(doc, key: str, name: str, problems: list[Problem]) -> dict:
    """``doc[key]`` as a mapping ({} when absent); anything else is a problem."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    problems.append(Problem(name, _line(doc, key), f"'{key}' must be a section of 'name: value' lines",
                            f"'{key}' 应是若干 “名称: 值” 行"))
    return {}


def scalar(doc, key: str, name: str, problems: list[Problem], default=None, text: bool = False):
    """``doc[key]`` as one value (``default`` when absent); a list, a section or (with ``text``) a bare
    number or true/false is a problem."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return default
    if isinstance(value, (list, dict)) or (text and not isinstance(value, str)):
        what = "a piece of text" if text else "a single value"
        problems.append(Problem(name, _line(doc, key), f"'{key}' must be {what}, not {type(value).__name__}",
                                f"'{key}' 应是{'一段文字' if text else '一个值'}"))
        return default
    return value
