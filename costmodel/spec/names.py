"""Names in a spec: what a node, input or block-input name may be, and the keys of a node that are not op
attributes."""

from __future__ import annotations

Number = int | float | str  # a literal or an expression
NODE_KEYS = ("name", "op", "block", "inputs", "repeat", "parallel", "overrides", "when", "dtype")


def check_name(name: str) -> str:
    """A node, input or block-input name: non-empty, without the output selector ':' (``attn:1``) and not
    starting or ending with the path separator '.'. Dotted names (``layer1.0.conv1``, as imports write them) are
    allowed; one that collides with a generated path (``a.1`` beside a repeated ``a``) is refused when the graph
    is built."""
    if not name.strip() or ":" in name or name.startswith(".") or name.endswith(".") or ".." in name:
        from ..errors import shown

        why = "it contains ':', which selects an output" if ":" in name else "it is empty" if not name.strip() \
            else "a '.' may only join non-empty parts"
        raise ValueError(f"invalid name {shown(name, 60)}: {why}")
    return name
