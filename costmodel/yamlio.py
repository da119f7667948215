"""The one YAML reader for user files (specs, hardware profiles): safe and bounded.

On top of PyYAML's safe loader it refuses what would make a count silently wrong or the tool hang or crash:
duplicated mapping keys (YAML keeps the last one without a word), files over a size limit, nesting deeper than
a limit (the C composer recurses), alias bombs ("billion laughs": a small file whose aliases expand to
gigabytes) and recursive aliases, and tags that are not plain data (``!!timestamp`` stays text; ``!!binary``,
``!!set``, ``!!omap``, ``!!pairs`` and unknown tags are refused). Every problem is a :class:`YamlError` whose
message gives the line; callers add the file name.
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Any

import yaml

from . import limits
from .errors import shown

_BASE: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONTAINER_START = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CONTAINER_END = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class YamlError(ValueError):
    """A YAML text that cannot be read as plain data; the message says where (line, column) and why."""


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _Loader(_BASE):  # type: ignore[misc, valid-type]
    """Safe loader that refuses duplicated keys and non-data tags, and keeps timestamps as text."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the base class reports it
                if duplicate:
                    raise YamlError(f"duplicated key {shown(key, 60)}{_at(key_node.start_mark)}: YAML would keep "
                                    "only the last value; remove or rename one")
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def _refuse(self, node: yaml.Node) -> Any:
        raise YamlError(f"unsupported YAML tag {node.tag!r}{_at(node.start_mark)}: only plain numbers, text, "
                        "lists and mappings are allowed")

    def _as_text(self, node: yaml.Node) -> Any:
        return self.construct_scalar(node)


for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader._refuse)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader._as_text)
_Loader.add_constructor(None, _Loader._refuse)


def _check_events(text: str) -> bool:
    """Refuse nesting deeper than the limit before anything recursive sees the text; True when it has aliases."""
    depth, has_alias = 0, False
    max_depth = limits.YAML_DEPTH.value
    try:
        for event in yaml.parse(text, Loader=_BASE):
            if isinstance(event, _CONTAINER_START):
                depth += 1
                if depth > max_depth:
                    raise YamlError(f"{limits.YAML_DEPTH.exceeded(depth)}{_at(event.start_mark)}")
            elif isinstance(event, _CONTAINER_END):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                has_alias = True
    except yaml.MarkedYAMLError as exc:
        # PyYAML >= 6.0.4 bounds nesting itself, and its scanner reads ahead of the events: its limit (1,000)
        # can be met before ours is counted. Either way the input is nested too deep: say so in our words.
        if "nesting depth" not in str(exc.problem or ""):
            raise
        raise YamlError(f"{limits.YAML_DEPTH.exceeded(max(depth, max_depth) + 1)} or more"
                        f"{_at(exc.problem_mark)}") from None
    return has_alias


def _check_expansion(root: yaml.Node) -> None:
    """Refuse recursive aliases and documents whose size with every alias expanded passes the limit.

    Iterative, memoised per node: sizes of shared (aliased) nodes are computed once."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    limit = limits.YAML_NODES
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in children)
            message = limit.exceeded(size[key])
            if message:
                raise YamlError(f"{message}{_at(node.start_mark)}: an alias bomb?")
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlError(f"recursive alias{_at(node.start_mark)}: a node that contains itself")
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise YamlError(f"recursive alias{_at(child.start_mark)}: a node that contains itself")
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


_PARSED: dict[tuple[str, int, int], bytes] = {}  # text and the limits it was checked under -> its data, marshalled
MAX_PARSED = 32  # texts kept
MAX_PARSED_CHARS = 1 << 18  # longer texts are parsed every time


def parse_yaml(text: str) -> Any:
    """Plain data from YAML ``text`` (one document), or :class:`YamlError`.

    A text read before (a spec analysed again, a profile loaded by another command) is not parsed again: the data
    of its first parse is kept marshalled and unmarshalled on each use (fresh dicts and lists each time, an alias
    still one shared object; plain data is all marshal is asked to hold)."""
    if len(text) > MAX_PARSED_CHARS:
        return _parse_yaml(text)
    key = (text, limits.YAML_DEPTH.value, limits.YAML_NODES.value)
    blob = _PARSED.get(key)
    if blob is not None:
        return marshal.loads(blob)
    data = _parse_yaml(text)
    try:
        blob = marshal.dumps(data)
    except ValueError:  # nested deeper than marshal goes (the depth limit was raised): not kept
        return data
    if len(_PARSED) >= MAX_PARSED:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[key] = blob
    return marshal.loads(blob)  # the caller's copy: what it changes is not what the next caller gets


def _parse_yaml(text: str) -> Any:
    try:
        has_alias = _check_events(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if has_alias:
                _check_expansion(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"malformed YAML{_at(mark)}: {problem}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. !!float abc, an int of 5,000 digits
        if isinstance(exc, YamlError):
            raise
        raise YamlError(f"a value YAML cannot read: {exc}") from None
    except RecursionError:
        raise YamlError("YAML nested too deeply to read") from None


def read_text(path: str | Path, what: str = "file", limit: limits.Limit = limits.YAML_BYTES) -> str:
    """A user's text file as str: UTF-8 (a leading byte-order mark is dropped), at most ``limit`` bytes.
    Raises :class:`YamlError` (unreadable, too big, not UTF-8)."""
    cap = limit.value + 1
    try:
        with open(path, "rb") as handle:
            # read(cap) would allocate cap bytes (64 MiB) up front: read the file's size first, then what remains
            data = handle.read(min(cap, os.fstat(handle.fileno()).st_size + 1))
            while len(data) < cap and (more := handle.read(min(cap - len(data), 1 << 20))):
                data += more
    except OSError as exc:
        raise YamlError(f"cannot read {what}: {exc.strerror or exc}") from None
    too_big = limit.exceeded(len(data))
    if too_big:
        raise YamlError(f"{what} too big: {too_big}")
    return decode_text(data, what)


def decode_text(data: bytes, what: str = "file") -> str:
    """UTF-8 bytes as str (a leading byte-order mark dropped); :class:`YamlError` naming the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(f"{what} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line} "
                        f"(offset {exc.start})") from None


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Read and parse a YAML file (see :func:`read_text` and :func:`parse_yaml`)."""
    return parse_yaml(read_text(path, what))
