"""Names and blocks for imported graphs: spec node names from module paths, and consecutive identical module
instances (``layer1.0``, ``layer1.1``, ...) folded into one block called with ``repeat:``.

Folding is exact: the folded spec expands to the same layers with the same paths as the flat one (the importer
checks that every count is unchanged). Instances may differ in attribute values (a stride, a width) and in
nodes present in some of them only (a projection shortcut): those become block parameters, set per instance
with ``overrides`` and ``when``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .common import unique_name

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .torch_trace import Emitted

NODE_FIELDS = ("name", "op", "block", "inputs", "repeat", "overrides", "when")


def _clean(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_.]+", "_", text)
    return re.sub(r"\.{2,}", ".", text).strip("._")


def name_nodes(nodes: Sequence[Emitted], outputs: Sequence[str], input_names: Sequence[str]
               ) -> tuple[list[Emitted], list[str]]:
    """Give every emitted node a unique name from its module path; rewrite refs to names.

    A module that emitted one node and has no sub-module with nodes names it by its path
    (``stages.0.blocks.0.conv_dw``); otherwise its nodes are ``path.op`` (``stages.0.blocks.0.add``).
    """
    modules = [_clean(n.module) for n in nodes]
    count = Counter(modules)
    parents = {m.rsplit(".", k)[0] for m in set(modules) if m for k in range(1, m.count(".") + 1)}
    taken = set(input_names)
    names: list[str] = []
    for node, module in zip(nodes, modules, strict=True):
        if module and count[module] == 1 and module not in parents:
            base = module
        else:
            base = f"{module}.{node.hint}" if module else node.hint
        if base[0].isdigit():
            base = f"m{base}"
        names.append(unique_name(base, taken))

    def rename(ref: str) -> str:
        if ref.startswith("input:"):
            return input_names[int(ref[6:])]
        if ref.startswith("#"):
            index, _, k = ref[1:].partition(":")
            return f"{names[int(index)]}:{k}" if k else names[int(index)]
        return ref

    for node, name in zip(nodes, names, strict=True):
        node.name = name
        node.inputs = [rename(r) for r in node.inputs]
    return list(nodes), [rename(r) for r in outputs]


# ---- folding ----------------------------------------------------------------------------------------------


def _base(ref: str) -> str:
    return ref.partition(":")[0]


def fold_repeats(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with consecutive identical module instances folded into blocks with ``repeat:``."""
    nodes = [dict(n) for n in spec["nodes"]]
    blocks: dict[str, dict[str, Any]] = {}
    for container in _containers(nodes):
        folded = _fold(nodes, container, blocks)
        if folded is not None:
            nodes = folded
    out = {k: v for k, v in spec.items() if k not in ("nodes", "outputs")}
    if blocks:
        out["blocks"] = blocks
    out["nodes"] = nodes
    if "outputs" in spec:
        out["outputs"] = spec["outputs"]
    return out


def _containers(nodes: Sequence[Mapping[str, Any]]) -> list[str]:
    """Module paths ``C`` with children ``C.0``, ``C.1``, ..., deepest first."""
    found: dict[str, set[int]] = defaultdict(set)
    for node in nodes:
        parts = node["name"].split(".")
        for k in range(1, len(parts) - 1):  # the child must have a local name below it
            if parts[k].isdigit():
                found[".".join(parts[:k])].add(int(parts[k]))
    good = [c for c, idx in found.items() if len(idx) >= 2 and idx == set(range(len(idx)))]
    return sorted(good, key=lambda c: (-c.count("."), c))


def _fold(nodes: list[dict[str, Any]], container: str, blocks: dict[str, dict[str, Any]]
          ) -> list[dict[str, Any]] | None:
    """Fold the instances of ``container`` if they are one template; None when they are not."""
    prefix = container + "."
    members = [i for i, n in enumerate(nodes) if n["name"].startswith(prefix)]
    if not members or members != list(range(members[0], members[-1] + 1)):
        return None
    group = [nodes[i] for i in members]
    instances: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for node in group:
        index, _, local = node["name"][len(prefix):].partition(".")
        if not index.isdigit() or not local:
            return None
        instances[int(index)].append({**node, "name": local})
    count = len(instances)
    order = [instances[i] for i in range(count)]
    # every instance reads one tensor from outside: the previous instance's output (any tensor for the first)
    outside_names = {n["name"] for n in nodes} - {n["name"] for n in group}
    full = [[f"{prefix}{i}.{n['name']}" for n in inst] for i, inst in enumerate(order)]
    external: list[str] = []
    for i, inst in enumerate(order):
        local_names = {n["name"] for n in inst}
        ext = {r for n in inst for r in n.get("inputs", []) if _base(r).removeprefix(f"{prefix}{i}.") not in
               local_names or not _base(r).startswith(f"{prefix}{i}.")}
        ext = {r for r in ext if not (_base(r).startswith(f"{prefix}{i}.") and
                                      _base(r)[len(f"{prefix}{i}."):] in local_names)}
        if len(ext) != 1:
            return None
        (x,) = ext
        if i and x != full[i - 1][-1]:
            return None
        external.append(x)
    # nothing outside reads an instance's inner node, except the last instance's output
    last = full[-1][-1]
    inner = {f for names in full for f in names}
    for n in nodes:
        if n["name"] in inner:
            continue
        for r in n.get("inputs", []):
            if _base(r) in inner and r != last:
                return None
    del outside_names
    # local views: inputs relative to the instance, the instance input is `x`
    views = []
    for i, inst in enumerate(order):
        view = []
        for n in inst:
            refs = ["x" if r == external[i] else r[len(f"{prefix}{i}."):] for r in n.get("inputs", [])]
            view.append({**n, "inputs": refs})
        views.append(view)
    template = _template(views)
    if template is None:
        return None
    body, params, per_instance = template
    block_def: dict[str, Any] = {}
    if params:
        block_def["params"] = {p: None for p in params}
    block_def["nodes"] = body
    name = _block_name(container, block_def, blocks)
    call: dict[str, Any] = {"name": container, "block": name, "inputs": [external[0]], "repeat": count}
    defaults = {p: Counter(_key(v[p]) for v in per_instance).most_common(1)[0][0] for p in params}
    defaults = {p: next(v[p] for v in per_instance if _key(v[p]) == k) for p, k in defaults.items()}
    call.update(defaults)
    overrides = {i: {p: v[p] for p in params if _key(v[p]) != _key(defaults[p])} for i, v in enumerate(per_instance)}
    overrides = {i: o for i, o in overrides.items() if o}
    if overrides:
        call["overrides"] = overrides
    out = nodes[:members[0]] + [call] + nodes[members[-1] + 1:]
    for n in out:  # the container's output is now the call's
        if "inputs" in n and n is not call:
            n["inputs"] = [container if r == last else r for r in n["inputs"]]
    return out


def _key(value: Any) -> str:
    return repr(value)


def _template(views: list[list[dict[str, Any]]]
              ) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]] | None:
    """One block body for all instances: differing values become parameters, missing nodes ``when``."""
    longest = max(views, key=len)
    order = [n["name"] for n in longest]
    if "x" in order:
        return None
    position = {name: k for k, name in enumerate(order)}
    for view in views:  # each instance's nodes appear in the template's order
        ks = [position.get(n["name"], -1) for n in view]
        if -1 in ks or ks != sorted(ks):
            return None
    by_name = [{n["name"]: n for n in view} for view in views]
    full_nodes = by_name[views.index(longest)]
    for view, here in zip(views, by_name, strict=True):  # the block's output is each instance's last node
        if _stand_in(order[-1], here, full_nodes) != view[-1]["name"]:
            return None
    params: list[str] = []
    per_instance: list[dict[str, Any]] = [{} for _ in views]
    body = []
    for name in order:
        present = [name in b for b in by_name]
        node: dict[str, Any] = {"name": name}
        keys = list(dict.fromkeys(k for b in by_name if name in b for k in b[name] if k != "name"))
        filled: dict[int, dict[str, Any]] = {}
        for b in by_name:
            if name in b:
                complete = _with_defaults(b[name], keys)
                if complete is None:
                    return None
                filled[id(b)] = complete
        for key in keys:
            values = [filled[id(b)][key] for b in by_name if name in b]
            if key == "inputs":
                full = full_nodes[name]["inputs"]
                for b in by_name:
                    if name in b and [_stand_in(r, b, full_nodes) for r in full] != b[name]["inputs"]:
                        return None
                node["inputs"] = full
                continue
            if all(_key(v) == _key(values[0]) for v in values) or key in ("op", "overrides"):
                if any(_key(v) != _key(values[0]) for v in values):
                    return None  # a different op or per-repeat overrides: not one template
                node[key] = values[0]
                continue
            param = _param_name(f"{name}_{key}")
            params.append(param)
            node[key] = param
            for inst, b in zip(per_instance, by_name, strict=True):
                inst[param] = filled[id(b)][key] if name in b else values[0]
        if not all(present):
            if any(r.startswith(f"{name}:") for n in longest for r in n.get("inputs", [])):
                return None  # a skipped node stands for its first input: it has no outputs :1, :2, ...
            param = _param_name(f"has_{name}")
            params.append(param)
            node["when"] = param
            for inst, p in zip(per_instance, present, strict=True):
                inst[param] = p
        body.append(node)
    return _merge_params(body, params, per_instance)


def _param_name(text: str) -> str:
    """A block parameter name (an expression variable): ``downsample.0_stride`` -> ``downsample_0_stride``."""
    name = _clean(text).replace(".", "_")
    return f"p_{name}" if name[0].isdigit() else name


def _with_defaults(node: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any] | None:
    """``node`` with every key in ``keys``: a missing attribute takes its op's default (None when it has none)."""
    from ..ops import REGISTRY

    out = dict(node)
    for key in keys:
        if key in out:
            continue
        op = REGISTRY.get(str(node.get("op")))
        field = op.attrs.model_fields.get(key) if op is not None else None
        if field is None or field.is_required():
            return None
        out[key] = field.default
    return out


def _merge_params(body: list[dict[str, Any]], params: list[str], per_instance: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """Parameters with the same value in every instance become one (``has_downsample_0`` and
    ``has_downsample_1`` -> ``has_downsample``; two strides -> ``stride``)."""
    groups: dict[str, list[str]] = {}
    for p in params:
        groups.setdefault(_key([inst[p] for inst in per_instance]), []).append(p)
    rename: dict[str, str] = {}
    taken: set[str] = set()
    for members in groups.values():
        name = members[0] if len(members) == 1 else _common_name(members)
        base, k = name, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        rename.update({m: name for m in members})
    for node in body:
        for key, value in list(node.items()):
            if key not in ("name", "inputs") and isinstance(value, str) and value in rename:
                node[key] = rename[value]
    merged = list(dict.fromkeys(rename[p] for p in params))
    insts = [{rename[p]: inst[p] for p in params} for inst in per_instance]
    return body, merged, insts


def _common_name(names: list[str]) -> str:
    """``has_downsample_0``, ``has_downsample_1`` -> ``has_downsample``; ``conv2_stride``, ``downsample_0_stride``
    -> ``stride``; the first name when they share nothing."""
    if all(n.startswith("has_") for n in names):
        parts = [n[4:].split("_") for n in names]
        common = []
        for column in zip(*parts, strict=False):
            if len(set(column)) != 1:
                break
            common.append(column[0])
        return "has_" + "_".join(common) if common else names[0]
    suffix = []
    for column in zip(*(n.split("_")[::-1] for n in names), strict=False):
        if len(set(column)) != 1:
            break
        suffix.append(column[0])
    return "_".join(suffix[::-1]) or names[0]


def _stand_in(ref: str, present: Mapping[str, Any], template: Mapping[str, Mapping[str, Any]]) -> str:
    """What the template reference ``ref`` is in an instance: a node skipped there stands for its first input."""
    while ref != "x" and _base(ref) not in present:
        ref = template[_base(ref)]["inputs"][0]
    return ref


def _block_name(container: str, block_def: dict[str, Any], blocks: dict[str, dict[str, Any]]) -> str:
    for name, existing in blocks.items():
        if existing == block_def:
            return name
    base = _clean(container).replace(".", "_") + "_block"
    name, k = base, 1
    while name in blocks:
        name, k = f"{base}_{k}", k + 1
    blocks[name] = block_def
    return name


# ---- YAML -------------------------------------------------------------------------------------------------


def _compact(nodes: list[dict[str, Any]], first_input: str) -> list[dict[str, Any]]:
    """Drop ``inputs`` where it is the default (the previous node; the scope's first input for the first)."""
    out = []
    previous = first_input
    for node in nodes:
        node = dict(node)
        if node.get("inputs") == [previous] and "when" not in node:
            del node["inputs"]
        elif isinstance(node.get("inputs"), list) and len(node["inputs"]) == 1:
            node["inputs"] = node["inputs"][0]
        out.append(node)
        previous = node["name"]
    return out


def folded_spec_yaml(spec: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The spec as YAML: comment header, top-level fields, blocks and nodes one flow-style line per node."""
    import yaml

    def line(node: Mapping[str, Any]) -> str:
        ordered = {k: node[k] for k in ("name", "op", "block", "inputs", "repeat", "when") if k in node}
        ordered.update({k: v for k, v in node.items() if k not in NODE_FIELDS})
        ordered.update({k: node[k] for k in ("overrides",) if k in node})
        return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=True, width=10**6).strip()

    head = {k: v for k, v in spec.items() if k not in ("nodes", "outputs", "blocks")}
    lines = [f"# {h}" for h in header]
    lines.append(yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=120).rstrip())
    first = next(iter(spec["inputs"]))
    if spec.get("blocks"):
        lines.append("blocks:")
        for name, block in spec["blocks"].items():
            lines.append(f"  {name}:")
            if "params" in block:
                lines.append("    params: " + yaml.safe_dump(block["params"], default_flow_style=True,
                                                               width=10**6).strip())
            lines.append("    nodes:")
            lines.extend(f"      - {line(n)}" for n in _compact(block["nodes"], "x"))
    lines.append("nodes:")
    lines.extend(f"  - {line(n)}" for n in _compact(spec["nodes"], first))
    if "outputs" in spec:
        lines.append(yaml.safe_dump({"outputs": spec["outputs"]}, default_flow_style=None).rstrip())
    return "\n".join(lines) + "\n"
