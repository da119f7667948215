"""costmodel's own fuzzer: seeded generators of hostile inputs, and the check every case must pass.

Inputs: mutated zoo specs (YAML text and parsed data), random small specs, hostile expressions, hardware profiles,
measurement CSVs and ONNX models (built here, in memory). The check: the case succeeds, or raises one of the
project's :class:`~costmodel.errors.UserError` types whose message is one line naming the file, within a time
limit. tests/test_fuzz.py runs a small fixed budget in CI; benchmarks/fuzz.py runs the long seeded campaign
(in-process and through the CLI) with time and memory figures.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import math
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ZOO = sorted((ROOT / "arch_specs").glob("*.yaml"))
PROFILES_DIR = ROOT / "hardware_profiles"
PROFILES = sorted(PROFILES_DIR.glob("*.yaml"))
TIME_LIMIT_S = 10.0  # CPU seconds a case may use: this process's (all threads) and its children's it waited for
WALL_LIMIT_S = 60.0  # wall seconds before a case is called hung (one that waits, not computes: no CPU time passes)
# A loaded machine (a 2-core CI runner beside other jobs) stretches a case's wall time, not its CPU time: a 10 s wall
# limit failed cases that took 2 s of CPU there. A case that computes for ever still stops at 10 s (SIGPROF); one
# that blocks, at 60 s (SIGALRM).

# ---- hostile values ------------------------------------------------------------------------------------------

HOSTILE_EXPRESSIONS = [
    "9**9**9", "2**64", "2**63", "-2**63", "10**400", "[1]*10**9", "'a'*10**9", "[[1]*10**5]*10**5", "1e308*10",
    "(" * 500 + "1" + ")" * 500, "1+" * 30000 + "1", "-" * 5000 + "1", "not " * 3000 + "True", "[" * 300 + "]" * 300,
    "__import__('os').system('true')", "().__class__.__base__", "open('/etc/passwd')", "lambda: 1", "x.y",
    "{1: 2}", "{1, 2}", "[i for i in range(10**9)]", "f'{1}'", "b'x'", "1j", "(-8)**0.5", "sqrt(-1)", "log2(0)",
    "1/0", "1//0", "1%0", "0**-1", "int('9'*5000)", "int(1e308)", "int(float('inf'))", "float('nan')",
    "round(1e308, -400)", "max()", "min([])", "sum([[1]])", "len(5)", "abs('x')", "make_divisible(1e308)",
    "make_divisible(-5)", "make_divisible(8, 0)", "dims[10**20]", "dims[-10**20]", "dims['a']", "i", "dim * i",
    "True + True", "1 if 2 else 3", "1 < 2 < 'a'", "1 == 1 == 1", "ceil(1e308)", "floor(float('-inf'))",
    "\x00", "1\n+1", "  ", "", "#", "'", "\\", "\u00b2", "１", "9" * 5000, "0x10", "1_000", "1e-400", "-0.0",
]
HOSTILE_VALUES: list[Any] = [
    0, -1, 1, 2, 3, 7, 2**31, 2**63 - 1, 2**63, 2**64, 10**30, 10**400, -(10**30), 1.5, -0.5, 1e-300, 1e300,
    math.inf, -math.inf, math.nan, True, False, None, "", "x", "relu", "same", "input:x", "a.1", "s:\u00b2", "\x00",
    "\u00e9" * 10, "x" * 100_000, [], [0], [1, 2, 3], [[[[]]]], [-1, 2], [10**20], {}, {"a": 1}, {"op": "relu"},
    "fp16", "bf16", "int8", "fp8", "fp12", "FP16", "float16", "int4",
    *HOSTILE_EXPRESSIONS,
]
NODE_KEYS = ["name", "op", "block", "inputs", "repeat", "when", "overrides", "out", "kernel", "stride", "padding",
             "groups", "dim", "sizes", "chunks", "heads", "scale_factor", "shape", "dims", "bias", "eps", "dtype"]
TEXT_INSERTS = [
    "!!timestamp 2020-01-01", "!!float abc", "!!binary aGVsbG8=", "!!python/object:os.system ls", "!!set {a: 1}",
    "&a [*a]", "*nope", "? [a]\n  : 1", "{", "]", ": :", "- - -", "\t", "'\\x00'", "!!int 0x", "&x 1", "*x",
    "<<: *x", "!!omap [a: 1]", "!!str", "~", ".nan", ".inf", "-.inf", "0o17", "1e400", "9" * 400, "!custom x",
]


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"b0: &b0 [{', '.join(['lol'] * width)}]"]
    lines += [f"b{k}: &b{k} [{', '.join([f'*b{k - 1}'] * width)}]" for k in range(1, levels)]
    return "\n".join(lines) + "\n"


# ---- specs ------------------------------------------------------------------------------------------------------


def _containers(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(data, dict | list):
        yield path, data
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            yield from _containers(value, (*path, key))


def hostile_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(HOSTILE_VALUES)
    if roll < 0.7:
        return random_expression(rng)
    if roll < 0.85:
        return rng.randint(-3, 300)
    return [rng.randint(-2, 64) for _ in range(rng.randint(0, 5))]


def random_expression(rng: random.Random, depth: int = 0) -> str:
    """A random arithmetic expression over small and huge numbers, names and the allowed functions."""
    if depth > 4 or rng.random() < 0.3:
        return rng.choice(["1", "2", "0", "-1", "3.5", "1e308", "2**62", "dim", "i", "x", "[1, 2]", "'a'", "True"])
    kind = rng.randrange(6)
    a, b = random_expression(rng, depth + 1), random_expression(rng, depth + 1)
    if kind == 0:
        return f"({a} {rng.choice(['+', '-', '*', '/', '//', '%', '**'])} {b})"
    if kind == 1:
        return f"{rng.choice(['min', 'max', 'abs', 'int', 'float', 'round', 'ceil', 'floor', 'sqrt', 'log2', 'len', 'sum', 'make_divisible'])}({a})"  # noqa: E501
    if kind == 2:
        return f"({a} if {b} else {random_expression(rng, depth + 1)})"
    if kind == 3:
        return f"({a} {rng.choice(['<', '==', '>=', 'and', 'or'])} {b})"
    if kind == 4:
        return f"[{a}, {b}][{rng.choice(['0', '1', '-1', '2', a])}]"
    return f"-{a}"


def mutate_data(data: Any, rng: random.Random) -> Any:
    """One to three structural mutations of parsed spec data (values replaced, keys added or removed, nodes
    duplicated, names colliding, blocks calling themselves)."""
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        spots = list(_containers(data))
        if not spots:
            return hostile_value(rng)
        path, box = rng.choice(spots)
        roll = rng.random()
        if isinstance(box, dict):
            if box and roll < 0.45:
                box[rng.choice(list(box))] = hostile_value(rng)
            elif box and roll < 0.6:
                del box[rng.choice(list(box))]
            elif roll < 0.85:
                box[rng.choice(NODE_KEYS)] = hostile_value(rng)
            elif "nodes" in box and isinstance(box["nodes"], list) and box["nodes"]:
                node = rng.choice(box["nodes"])
                if isinstance(node, dict):
                    node = dict(node)
                    name = str(node.get("name") or node.get("op") or "n")
                    node["name"] = rng.choice([f"{name}.0", f"{name}.1", name, f"input:{name}", f"{name}:0"])
                    box["nodes"].insert(rng.randrange(len(box["nodes"]) + 1), node)
            elif "blocks" in data and isinstance(data.get("blocks"), dict) and data["blocks"]:
                block = rng.choice(list(data["blocks"]))
                nodes = data["blocks"][block].get("nodes") if isinstance(data["blocks"][block], dict) else None
                if isinstance(nodes, list):
                    nodes.append({"block": rng.choice(list(data["blocks"]))})
        elif isinstance(box, list):
            if box and roll < 0.4:
                box[rng.randrange(len(box))] = hostile_value(rng)
            elif box and roll < 0.6:
                del box[rng.randrange(len(box))]
            elif box and roll < 0.8:
                box.insert(rng.randrange(len(box) + 1), copy.deepcopy(rng.choice(box)))
            else:
                box.append(hostile_value(rng))
    return data


def mutate_text(text: str, rng: random.Random) -> str | bytes:
    """A text-level mutation of a YAML file: lines deleted, duplicated (duplicate keys), truncated, hostile
    tokens inserted, bytes that are not UTF-8, an alias bomb or deep nesting prepended."""
    lines = text.splitlines()
    roll = rng.random()
    k = rng.randrange(len(lines)) if lines else 0
    if roll < 0.15 and lines:
        del lines[k]
    elif roll < 0.3 and lines:
        lines.insert(k, lines[rng.randrange(len(lines))])
    elif roll < 0.5 and lines:
        line = lines[k]
        cut = rng.randrange(len(line) + 1)
        lines[k] = line[:cut] + " " + rng.choice(TEXT_INSERTS) + " " + line[cut:]
    elif roll < 0.6:
        data = "\n".join(lines).encode("utf-8")
        cut = rng.randrange(len(data) + 1)
        return data[:cut] + bytes([rng.choice([0x80, 0xC3, 0xFF, 0xFE, 0x00])]) + data[cut:]
    elif roll < 0.7:
        return "\n".join(lines)[: rng.randrange(len(text) + 1)]
    elif roll < 0.78:
        return alias_bomb(rng.randint(3, 10)) + text
    elif roll < 0.85:
        depth = rng.choice([50, 500, 5000, 100_000])
        return f"deep: {'[' * depth}{']' * depth}\n" + text
    elif roll < 0.92:
        return "\ufeff" + text  # a byte-order mark: valid
    else:
        lines.append(f"{rng.choice(['vars', 'defaults', 'blocks', 'nodes', 'name'])}: {rng.choice(TEXT_INSERTS)}")
    return "\n".join(lines) + "\n"


SMALL_OPS: list[Callable[[random.Random], dict[str, Any]]] = [
    lambda r: {"op": "conv2d", "out": r.choice([1, 8, 16, 0, -3, "c * 2"]), "kernel": r.choice([1, 3, 7, 99]),
               "stride": r.choice([1, 2, 0]), "padding": r.choice([0, 1, "same", -1]), "groups": r.choice([1, 2, 8])},
    lambda r: {"op": "linear", "out": r.choice([1, 10, 2**40, "c"])},
    lambda r: {"op": r.choice(["relu", "gelu", "silu", "sigmoid", "identity", "softmax", "hardswish"])},
    lambda r: {"op": "batch_norm"},
    lambda r: {"op": "layer_norm", "dim": r.choice([-1, 1, 5])},
    lambda r: {"op": "max_pool2d", "kernel": r.choice([1, 2, 3, 50]), "stride": r.choice([1, 2])},
    lambda r: {"op": "add", "inputs": r.choice([["x", "x"], ["x"], "x", ["x", "x", "x"]])},
    lambda r: {"op": "concat", "inputs": ["x", "x"], "dim": r.choice([1, 2, 9])},
    lambda r: {"op": "split", "sizes": r.choice([1, 2, [1, 1], 10**7]), "dim": 1},
    lambda r: {"op": "chunk", "chunks": r.choice([1, 2, 3, 10**9]), "dim": 1},
    lambda r: {"op": "reshape", "shape": r.choice([[-1], [2, -1], [0], [10**10]])},
    lambda r: {"op": "permute", "dims": r.choice([[0, 2, 1, 3], [0, 1], [0, 0, 1, 2]])},
    lambda r: {"op": "upsample", "scale_factor": r.choice([2, 0.5, 1e6, "inf"])},
    lambda r: {"op": "global_avg_pool"},
    lambda r: {"op": "flatten"},
    lambda r: {"op": "attention", "heads": r.choice([1, 2, 3, 0]), "dim": r.choice([8, 16])},
]


def random_small_spec(rng: random.Random) -> dict[str, Any]:
    """A random spec of one to eight ops (some deliberately wrong), sometimes repeated, conditional or in a block."""
    nodes = []
    for k in range(rng.randint(1, 8)):
        node = rng.choice(SMALL_OPS)(rng)
        if "inputs" in node:
            node["inputs"] = [f"n{rng.randrange(k)}" if k and rng.random() < 0.8 else "x" for _ in node["inputs"]] \
                if isinstance(node["inputs"], list) else "x"
        node["name"] = f"n{k}"
        if rng.random() < 0.15:
            node["repeat"] = rng.choice([0, 1, 3, "c", 10**7, -1])
        if rng.random() < 0.1:
            node["when"] = rng.choice(["i > 0", "c > 4", True, "x", 1])
        if rng.random() < 0.1:
            node[rng.choice(NODE_KEYS)] = hostile_value(rng)
        nodes.append(node)
    shape = rng.choice([[8, 16, 16], [3, 32, 32], [16, 8], [4], [8, 1, 1], [2**20, 2**20, 4]])
    spec: dict[str, Any] = {"name": f"fuzz{rng.randrange(10**6)}", "inputs": {"x": shape}, "vars": {"c": 8},
                            "nodes": nodes}
    if rng.random() < 0.2:
        spec["blocks"] = {"b": {"params": {"w": 8}, "nodes": [dict(nodes[0], name="inner")]}}
        spec["nodes"].append({"block": "b", "w": rng.choice([4, 8, "c", -1]), "name": "blk"})
    return spec


def spec_case(rng: random.Random) -> tuple[str, str | bytes]:
    """(kind, file content) of one fuzzed spec."""
    roll = rng.random()
    if roll < 0.4:
        source = rng.choice(ZOO)
        return f"text:{source.stem}", mutate_text(source.read_text(encoding="utf-8"), rng)
    if roll < 0.75:
        source = rng.choice(ZOO)
        data = mutate_data(yaml.safe_load(source.read_text(encoding="utf-8")), rng)
        return f"data:{source.stem}", _dump(data)
    if roll < 0.9:
        return "random", _dump(random_small_spec(rng))
    spec = random_small_spec(rng)
    node = spec["nodes"][rng.randrange(len(spec["nodes"]))]
    node[rng.choice(["out", "kernel", "repeat", "when", "dim", "stride"])] = rng.choice(HOSTILE_EXPRESSIONS)
    return "expression", _dump(spec)


def _dump(data: Any) -> str:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**9)
    except (yaml.YAMLError, ValueError, OverflowError):
        return json.dumps(data, default=str)


# ---- profiles, CSVs, ONNX ------------------------------------------------------------------------------------------


def profile_case(rng: random.Random) -> str | bytes:
    """A mutated shipped hardware profile (or junk)."""
    roll = rng.random()
    text = rng.choice(PROFILES).read_text(encoding="utf-8")
    if roll < 0.3:
        return mutate_text(text, rng)
    if roll < 0.4:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    data = yaml.safe_load(text)
    for _ in range(rng.randint(1, 3)):
        spots = [(p, box) for p, box in _containers(data) if isinstance(box, dict) and box]
        if not spots:
            break
        _, box = rng.choice(spots)
        key = rng.choice(list(box))
        if rng.random() < 0.25:  # a missing field (required or not, at any depth)
            del box[key]
            continue
        box[key] = rng.choice([math.inf, -math.inf, math.nan, -1, 0, 1e308, "x", None, [], {}, 10**400, True,
                               "9" * 500, 0.5, 2.0, -0.5, -1e-9, 1e-300, -(10**6)])
    return _dump(data)


CSV_HEADER = ["model", "infer_img_size", "infer_samples_per_sec", "infer_step_time", "infer_batch_size", "device"]


def csv_case(rng: random.Random) -> bytes:
    """A measurement CSV with hostile rows: short, long, quoted newlines, huge numbers, long fields, BOM, bad bytes."""
    header = list(CSV_HEADER)
    if rng.random() < 0.1:
        header.remove(rng.choice(header))
    rows = [",".join(header)]
    for _ in range(rng.randint(0, 6)):
        cells = [rng.choice(["resnet50", "resnet18", "vit_small_patch16_224", "nope"]), "224", "1000.5", "1.0",
                 rng.choice(["1", "8", "256"]), "RTX 4090"]
        if rng.random() < 0.3:  # one hostile cell
            k = rng.randrange(len(cells))
            cells[k] = rng.choice(['"res\nnet50"', "", "0", "-1", "1e400", "9" * 400, "abc", "224.5", "nan", "inf",
                                   "x" * rng.choice([10, 200_000]), '"a,b"', '"unclosed', "\x00"])
        if rng.random() < 0.1:  # a short row
            del cells[rng.randrange(len(cells) + 1):]
        if rng.random() < 0.05:
            cells.append("extra")
        rows.append(",".join(cells))
    data = ("\n".join(rows) + "\n").encode("utf-8")
    if rng.random() < 0.15:
        data = b"\xef\xbb\xbf" + data
    if rng.random() < 0.1:
        cut = rng.randrange(len(data) + 1)
        data = data[:cut] + b"\xff" + data[cut:]
    if rng.random() < 0.05:
        data = b"# a comment\n" + data
    return data


def onnx_case(rng: random.Random) -> bytes:
    """A small ONNX model built here: a chain of ops, sometimes broken (no outputs, no inputs, a huge Range, bad
    shapes, symbolic dims)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width = rng.choice([8, 16])
    dims: list[Any] = [1, width] if rng.random() < 0.9 else ["N", "C"]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    nodes, inits, last = [], [], "x"
    for k in range(rng.randint(1, 6)):
        kind = rng.choice(["Relu", "Add", "MatMul", "Sigmoid", "Relu", "Add", "Range", "Reshape", "Softmax"])
        out = f"t{k}"
        if kind in ("Relu", "Sigmoid", "Softmax"):
            nodes.append(helper.make_node(kind, [last], [out], name=f"/m{k}/{kind}"))
        elif kind == "Add":
            nodes.append(helper.make_node("Add", [last, last], [out], name=f"/m{k}/Add"))
        elif kind == "MatMul":
            w = np.ones((width, rng.choice([width, width, 3])), np.float32)
            inits.append(numpy_helper.from_array(w, f"w{k}"))
            nodes.append(helper.make_node("MatMul", [last, f"w{k}"], [out], name=f"/m{k}/MatMul"))
        elif kind == "Range":
            stop = rng.choice([width, 10**12, 10**15])
            for name, value in (("s", 0), ("l", stop), ("d", 1)):
                inits.append(numpy_helper.from_array(np.array(value, np.int64), f"{name}{k}"))
            nodes.append(helper.make_node("Range", [f"s{k}", f"l{k}", f"d{k}"], [f"r{k}"]))
            nodes.append(helper.make_node("Cast", [f"r{k}"], [f"rf{k}"], to=TensorProto.FLOAT))
            nodes.append(helper.make_node("ReduceSum", [f"rf{k}"], [f"rs{k}"], keepdims=1))
            nodes.append(helper.make_node("Add", [last, f"rs{k}"], [out]))
        else:
            inits.append(numpy_helper.from_array(np.array(rng.choice([[1, -1], [-1], [3, 7]]), np.int64), f"sh{k}"))
            nodes.append(helper.make_node("Reshape", [last, f"sh{k}"], [out]))
        last = out
    outputs = [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["a", "b"])] if rng.random() < 0.9 else []
    inputs = [x] if rng.random() < 0.9 else []
    graph = helper.make_graph(nodes, "fuzz", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data: bytes = model.SerializeToString()
    if rng.random() < 0.05:
        cut = rng.randrange(len(data) + 1)
        data = data[:cut]
    _ = onnx  # imported for its side effect of registering the protobuf types
    return data


# ---- the check ---------------------------------------------------------------------------------------------------


class CaseTimeout(Exception):
    """A case ran past TIME_LIMIT_S of CPU time or WALL_LIMIT_S of wall time."""


@contextlib.contextmanager
def time_limit(cpu_s: float, wall_s: float = WALL_LIMIT_S) -> Iterator[None]:
    """Raise CaseTimeout in the main thread after ``cpu_s`` seconds of this process's CPU time (ITIMER_PROF: every
    thread's) or ``wall_s`` of wall time (ITIMER_REAL), whichever comes first (a no-op where there are no timers)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        raise CaseTimeout(f"over {cpu_s:g} s of CPU time" if signum == signal.SIGPROF else f"over {wall_s:g} s")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, cpu_s)
    signal.setitimer(signal.ITIMER_REAL, wall_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of the children it has waited for, in seconds."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Tally:
    """Outcomes of a fuzz run: counts per outcome, the slowest case, and the failures (kind, file, problem)."""

    ok: int = 0
    user_errors: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    exits: Counter[int] = field(default_factory=Counter)  # CLI cases that behaved, by exit code

    def record(self, kind: str, file: Path, run: Callable[[], Any], limit_s: float = TIME_LIMIT_S) -> None:
        from costmodel.errors import UserError

        start, cpu_start, failed = time.perf_counter(), cpu_seconds(), len(self.failures)
        try:
            with time_limit(limit_s):
                run()
            self.ok += 1
        except UserError as exc:
            message = str(exc)
            if "\n" in message or str(file) not in message or len(message) > 1200:
                self.failures.append((kind, str(file), f"bad message: {message[:300]!r}"))
            else:
                self.user_errors += 1
        except CaseTimeout as exc:
            self.failures.append((kind, str(file), f"timeout: {exc}"))
        except BaseException as exc:  # noqa: BLE001 - what the fuzzer is looking for
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.failures.append((kind, str(file), f"{type(exc).__name__}: {str(exc)[:300]}"))
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        if elapsed > self.slowest[0]:
            self.slowest = (elapsed, f"{kind} {file}")
        if len(self.failures) > failed:  # a timeout (or another failure) says it already
            pass
        elif cpu > limit_s:  # a child's CPU time (a CLI process) is counted once it ended
            self.failures.append((kind, str(file), f"took {cpu:.1f} s of CPU time ({elapsed:.1f} s)"))
        elif elapsed > WALL_LIMIT_S:
            self.failures.append((kind, str(file), f"took {elapsed:.1f} s"))

    @property
    def total(self) -> int:
        return self.ok + self.user_errors + len(self.failures)


def write_case(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8", errors="surrogatepass"))
    return path


def analyze_spec_file(path: Path, profile: Any = None) -> None:
    """What `costmodel analyze SPEC --hw X -f json` computes, in-process."""
    from costmodel.analysis import analyze_graph
    from costmodel.graph import build_graph
    from costmodel.latency import estimate
    from costmodel.report.tables import render_json
    from costmodel.spec import load_spec

    graph = build_graph(load_spec(path), file=str(path))
    analysis = analyze_graph(graph)
    latency = [estimate(graph, profile)] if profile is not None else []
    render_json(analysis, latency=latency)
    json.dumps([analysis.to_dict(), *(result.to_dict() for result in latency)], allow_nan=False)  # all finite


def fuzz_specs(folder: Path, seed: int, count: int, tally: Tally, profile: Any = None) -> None:
    rng = random.Random(seed)
    for k in range(count):
        kind, content = spec_case(rng)
        path = write_case(folder, f"spec_{seed}_{k}.yaml", content)
        tally.record(kind, path, lambda path=path: analyze_spec_file(path, profile))
        path.unlink()


def fuzz_profiles(folder: Path, seed: int, count: int, tally: Tally) -> None:
    from costmodel.graph import build_graph
    from costmodel.hardware import load_profile_file
    from costmodel.latency import estimate
    from costmodel.spec import load_spec

    graph = build_graph(load_spec(ROOT / "arch_specs" / "resnet18.yaml"))
    rng = random.Random(seed)
    for k in range(count):
        path = write_case(folder, f"profile_{seed}_{k}.yaml", profile_case(rng))

        def run(path: Path = path, threads: int | None = rng.choice([None, None, 1, 2, 3, 256])) -> None:
            result = estimate(graph, load_profile_file(path), threads=threads)
            values = [result.summary.latency_s, result.summary.throughput]
            assert all(math.isfinite(v) for v in values), f"non-finite latency {values}"

        tally.record("profile", path, run)
        path.unlink()


def fuzz_csvs(folder: Path, seed: int, count: int, tally: Tally) -> None:
    from costmodel.calibration.measurements import match, read_measurements, select_device, spec_index

    index = spec_index()
    rng = random.Random(seed)
    for k in range(count):
        path = write_case(folder, f"measured_{seed}_{k}.csv", csv_case(rng))

        def run(path: Path = path) -> None:
            file = read_measurements(path)
            rows = select_device(file, file.devices[0] if file.devices else None)
            match(rows, index)

        tally.record("csv", path, run)
        path.unlink()


def fuzz_onnx(folder: Path, seed: int, count: int, tally: Tally) -> None:
    from costmodel.bridges.onnx_import import import_onnx
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    rng = random.Random(seed)
    for k in range(count):
        path = write_case(folder, f"model_{seed}_{k}.onnx", onnx_case(rng))

        def run(path: Path = path) -> None:
            text = import_onnx(path)
            build_graph(parse_spec(yaml.safe_load(text), str(path)), file=str(path))

        tally.record("onnx", path, run)
        path.unlink()


# ---- against PyTorch: the counts of specs costmodel accepts ---------------------------------------------------------


def _kernel(rng: random.Random, low: int = 1, high: int = 5) -> int | list[int]:
    return rng.randint(low, high) if rng.random() < 0.7 else [rng.randint(low, high), rng.randint(low, high)]


def map_op(rng: random.Random, channels: int) -> dict[str, Any]:
    """A random op with random attributes on an [N, C, H, W] map of ``channels`` channels (some invalid for the
    shape: costmodel must refuse exactly what PyTorch refuses)."""
    groups = rng.choice([d for d in (1, 2, 3, 4, channels) if channels % d == 0])
    out = groups * rng.choice([1, 2, 3])
    makers: list[Callable[[], dict[str, Any]]] = [
        lambda: {"op": "conv2d", "out": out, "kernel": _kernel(rng), "stride": _kernel(rng, 1, 3),
                 "dilation": _kernel(rng, 1, 2), "padding": rng.choice([0, 1, 2, [1, 0], "same", "valid"]),
                 "groups": groups, "bias": rng.random() < 0.5},
        lambda: {"op": "conv_transpose2d", "out": out, "kernel": _kernel(rng), "stride": _kernel(rng, 1, 3),
                 "groups": groups, "padding": rng.choice([0, 1, [1, 0]]), "output_padding": rng.choice([0, 1, [0, 1]]),
                 "dilation": _kernel(rng, 1, 2), "bias": rng.random() < 0.5},
        lambda: {"op": "max_pool2d", "kernel": _kernel(rng, 1, 4), "stride": rng.choice([None, 1, 2, 3, [1, 2]]),
                 "padding": rng.choice([0, 1, 2, [1, 0]]), "dilation": _kernel(rng, 1, 3),
                 "ceil_mode": rng.random() < 0.5},
        lambda: {"op": "avg_pool2d", "kernel": _kernel(rng, 1, 4), "stride": rng.choice([None, 1, 2, 3, [1, 2]]),
                 "padding": rng.choice([0, 1, [1, 0]]), "ceil_mode": rng.random() < 0.5,
                 "count_include_pad": rng.random() < 0.5},
        lambda: {"op": rng.choice(["adaptive_avg_pool2d", "adaptive_max_pool2d"]),
                 "output_size": rng.choice([1, 2, 3, 5, 7, [2, 3], [9, 1]])},
        lambda: {"op": "upsample",
                 **rng.choice([{"scale_factor": rng.choice([2, 0.5, 1.5, 3, 0.7, [2, 1], [1.3, 0.8]])},
                               {"size": rng.choice([[5, 7], 9, [3, 3]])}]),
                 "mode": rng.choice(["nearest", "bilinear", "bicubic"]),
                 "align_corners": rng.choice([None, None, True, False])},
        lambda: {"op": rng.choice(["batch_norm", "relu", "global_avg_pool", "global_max_pool"])},
        lambda: {"op": "group_norm", "groups": groups},
        lambda: {"op": "layer_norm", "channels_first": True},
        lambda: {"op": "pad", "pads": rng.choice([[1, 1, 1, 1], [0, 2, 1, 0], [2, 2], [1, 1, 1, 1, 1, 1]]),
                 "mode": rng.choice(["constant", "reflect", "replicate"])},
        lambda: {"op": "channel_shuffle", "groups": groups},
        lambda: {"op": "im2col", "kernel": _kernel(rng, 1, 3), "padding": rng.choice([0, 1]),
                 "stride": _kernel(rng, 1, 2), "dilation": _kernel(rng, 1, 2)},
        lambda: {"op": "patch_embed", "out": out, "patch": rng.choice([1, 2, 3, 4])},
        lambda: {"op": "slice", "dim": rng.choice([-1, -2, 0, 1, 2, 3]), "start": rng.randint(-6, 6),
                 "end": rng.choice([None, rng.randint(-6, 12)]), "step": rng.randint(1, 3)},
        lambda: {"op": "select", "dim": rng.choice([1, 2, 3, -1]), "index": rng.randint(-4, 4)},
        lambda: {"op": "chunk", "chunks": rng.randint(1, 4), "dim": rng.choice([1, 2, 3, -1])},
        lambda: {"op": "split", "sizes": rng.choice([1, 2, 3, [1, 2], [2, 2, 100]]), "dim": rng.choice([1, 2, 3])},
        lambda: {"op": "reshape", "shape": rng.choice([[-1], [channels, -1], [-1, 2], [0, -1], [2, -1, 2]])},
        lambda: {"op": "flatten", "start_dim": rng.choice([0, 1, 2, 3, -1]), "end_dim": rng.choice([-1, 1, 2, 3])},
        lambda: {"op": "unflatten", "dim": rng.choice([1, 2]), "sizes": rng.choice([[-1, 1], [1, -1], [2, -1]])},
        lambda: {"op": "permute", "dims": rng.choice([[0, 2, 3, 1], [0, 3, 1, 2], [0, 1, 3, 2], [0, -1, 1, 2]])},
        lambda: {"op": "transpose", "dim0": rng.choice([1, 2, -1]), "dim1": rng.choice([3, -2, 1])},
        lambda: {"op": "roll", "shifts": rng.choice([1, -2, [1, 2], 30]), "dims": rng.choice([2, [2, 3], -1])},
    ]
    return rng.choice(makers)()


def token_op(rng: random.Random, channels: int) -> dict[str, Any]:
    """A random op with random attributes on [N, L, C] tokens of ``channels`` features."""
    heads = rng.choice([h for h in (1, 2, 3, 4) if channels % h == 0] + [rng.choice([1, 2])])
    makers: list[Callable[[], dict[str, Any]]] = [
        lambda: {"op": "linear", "out": rng.choice([3, 4, 8]), "bias": rng.random() < 0.5},
        lambda: {"op": "layer_norm", "bias": rng.random() < 0.5},
        lambda: {"op": rng.choice(["rms_norm", "gelu", "pos_embed"])},
        lambda: {"op": "attention", "heads": heads, "qkv_bias": rng.random() < 0.5, "proj_bias": rng.random() < 0.5,
                 "causal": rng.random() < 0.3,
                 **rng.choice([{}, {"head_dim": rng.choice([2, 3, 4])}, {"out": rng.choice([4, 6])},
                               {"head_dim": 2, "out": 5}])},
        lambda: {"op": "lstm", "hidden": rng.choice([2, 3, 5]), "layers": rng.choice([1, 2]),
                 "bidirectional": rng.random() < 0.5, "bias": rng.random() < 0.5},
        lambda: {"op": "conv1d", "out": rng.choice([2, 4]), "kernel": rng.randint(1, 4), "stride": rng.randint(1, 3),
                 "padding": rng.choice([0, 1, "same", "valid"]), "dilation": rng.randint(1, 2)},
        lambda: {"op": rng.choice(["max_pool1d", "avg_pool1d"]), "kernel": rng.randint(1, 3),
                 "stride": rng.choice([None, 1, 2]), "padding": rng.choice([0, 1]), "ceil_mode": rng.random() < 0.5},
        lambda: {"op": "softmax", "dim": rng.choice([-1, 1])},
        lambda: {"op": "class_token", "tokens": rng.choice([1, 2])},
        lambda: {"op": "transpose", "dim0": 1, "dim1": 2},
    ]
    return rng.choice(makers)()


def torch_case(rng: random.Random) -> tuple[dict[str, Any], Any]:
    """(spec data, graph) of one to three random ops on an image or on tokens, each kept only where costmodel accepts
    it (what it refuses, the other fuzzers check); graph None when it accepted none."""
    from costmodel.errors import UserError
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    tokens = rng.random() < 0.4
    channels = rng.choice([2, 3, 4, 6, 8])
    shape = [rng.randint(1, 9), channels] if tokens else [channels, rng.randint(3, 17), rng.randint(3, 17)]
    data: dict[str, Any] = {"name": "vs_torch", "batch": rng.randint(1, 2), "inputs": {"x": shape}, "nodes": []}
    graph = None
    for k in range(rng.randint(1, 3)):
        node = dict(token_op(rng, channels) if tokens else map_op(rng, channels), name=f"n{k}")
        if rng.random() < 0.15:  # an op of two inputs: the last node kept (or the input) and the input
            last = data["nodes"][-1]["name"] if data["nodes"] else "x"
            node = {"name": f"n{k}", "inputs": [last, "x"], **rng.choice([
                {"op": rng.choice(["add", "mul", "sub", "div"]), "broadcast": rng.random() < 0.5},
                {"op": "concat", "dim": rng.choice([1, 2, -1])},
                {"op": "matmul"},
                {"op": "einsum", "terms": ["bij", "bkj"], "result": "bik"},
                {"op": "scaled_dot_product_attention", "causal": rng.random() < 0.5}])}
            if node["op"] == "scaled_dot_product_attention":
                node["inputs"] = [last, "x", "x"]
        trial = dict(data, nodes=[*data["nodes"], node])
        try:
            built = build_graph(parse_spec(trial))
        except UserError:
            continue
        data, graph = trial, built
        out = built.layers[-1].cost.outputs[0]
        if len(out) != len(shape) + 1:  # the next op's generator assumes the input's rank
            break
        channels = out[-1] if tokens else out[1]
    return data, graph


def differs_from_torch(graph: Any) -> str | None:
    """None when PyTorch runs ``graph`` (costmodel.bridges.torch: real nn layers) with costmodel's inferred shape
    at every layer, ``sum(p.numel())`` equal to its params and FlopCounterMode's FLOPs equal to twice the MACs of the
    layers it counts; else what differs. A spec costmodel accepts and PyTorch refuses differs too."""
    from costmodel.bridges.torch import build_module, example_inputs, torch_counted_macs, torch_counts

    try:
        counts = torch_counts(build_module(graph, check_shapes=True), example_inputs(graph))
    except Exception as exc:  # noqa: BLE001 - PyTorch's refusal, or a shape mismatch the bridge found
        if "more than 1 value per channel" in str(exc) and any(layer.op == "group_norm" for layer in graph.layers):
            return None  # F.group_norm's batch-size check: one value per group at batch 1 (a PyTorch quirk)
        return f"PyTorch: {type(exc).__name__}: {str(exc)[:200]}"
    params = sum(layer.cost.params for layer in graph.layers)
    if params != counts.params:
        return f"params {params}, PyTorch {counts.params}"
    macs = torch_counted_macs(graph)
    if 2 * macs != counts.flop_counter_flops:
        return f"MACs {macs}, PyTorch's FlopCounterMode {counts.flop_counter_flops} FLOPs ({counts.by_op})"
    return None


def fuzz_against_torch(folder: Path, seed: int, count: int, tally: Tally) -> None:
    """Random small specs costmodel accepts, each run in PyTorch: :func:`differs_from_torch` must find nothing. The
    spec of a failing case is kept in ``folder`` (torch_SEED_K.yaml)."""
    rng = random.Random(seed)
    for k in range(count):
        data, graph = torch_case(rng)
        if graph is None:
            continue
        path = write_case(folder, f"torch_{seed}_{k}.yaml", _dump(data))

        def run(graph: Any = graph) -> None:
            problem = differs_from_torch(graph)
            if problem:
                raise AssertionError(problem)

        failures = len(tally.failures)
        tally.record("torch", path, run)
        if len(tally.failures) == failures:
            path.unlink()


def _fractional_resize(layer: Any) -> bool:
    """Whether ``layer`` is an upsample by a scale factor that is not a whole number."""
    if layer.op != "upsample" or layer.attrs.scale_factor is None:
        return False
    factors = layer.attrs.scale_factor if isinstance(layer.attrs.scale_factor, list) else [layer.attrs.scale_factor]
    return any(factor != int(factor) for factor in factors)


def fuzz_onnx_round_trip(folder: Path, seed: int, count: int, tally: Tally) -> None:
    """The random specs of :func:`torch_case`, exported from PyTorch to ONNX (the legacy exporter, weights kept
    apart from constants) and imported back: the import is one of costmodel's errors naming the file (an op it does
    not map), or a spec with the original's params, MACs of the layers FlopCounterMode counts, and output shapes.
    Specs PyTorch's exporter cannot write are left out, and so are resizes by a fraction: the exporter writes the
    scale as float32, and floor(10 x float32(0.7)) = 6 rows in ONNX where PyTorch computes 7 (the file is right about
    itself; seed 30249)."""
    import warnings

    import torch

    from costmodel.bridges.onnx_import import import_onnx
    from costmodel.bridges.torch import build_module, example_inputs
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    rng = random.Random(seed)
    for k in range(count):
        _, graph = torch_case(rng)
        if graph is None or any(_fractional_resize(layer) for layer in graph.layers):
            continue
        path = folder / f"round_trip_{seed}_{k}.onnx"
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):  # a failed export prints its TorchScript graph
                warnings.simplefilter("ignore")
                torch.onnx.export(build_module(graph), example_inputs(graph), str(path), dynamo=False,
                                  training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        except Exception:  # noqa: BLE001 - what the exporter cannot write is not costmodel's to import
            path.unlink(missing_ok=True)
            continue

        def run(path: Path = path, graph: Any = graph) -> None:
            back = build_graph(parse_spec(yaml.safe_load(import_onnx(path)), str(path)), file=str(path))
            check_same_counts(graph, back)

        tally.record("onnx round trip", path, run)
        path.unlink()


def check_same_counts(graph: Any, back: Any) -> None:
    """A round trip's spec ``back`` has ``graph``'s params, the MACs FlopCounterMode counts of its layers and its
    output shapes; else AssertionError naming both."""
    from costmodel.analysis import analyze_graph
    from costmodel.bridges.torch import torch_counted_macs

    counts = [(analyze_graph(g).totals.params, torch_counted_macs(g), [tuple(g.shape(r)) for r in g.outputs])
              for g in (graph, back)]
    if counts[0] != counts[1]:
        raise AssertionError(f"params, MACs, output shapes {counts[0]} came back as {counts[1]}")


def fuzz_torch_round_trip(folder: Path, seed: int, count: int, tally: Tally) -> None:
    """The random specs of :func:`torch_case` as PyTorch modules imported back through torch.export (``costmodel
    import torch:``): one of costmodel's errors naming the case (an op it does not map), or a spec with the
    original's params, MACs of the layers FlopCounterMode counts, and output shapes."""
    import warnings

    from costmodel.bridges.torch import build_module
    from costmodel.bridges.torch_import import module_to_spec_dict
    from costmodel.errors import UserError
    from costmodel.graph import build_graph
    from costmodel.spec import parse_spec

    rng = random.Random(seed)
    for k in range(count):
        data, graph = torch_case(rng)
        if graph is None:
            continue
        path = write_case(folder, f"torch_import_{seed}_{k}.yaml", _dump(data))

        def run(path: Path = path, graph: Any = graph) -> None:
            inputs = {name: shape[1:] for name, shape in graph.inputs.items()}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    spec, _ = module_to_spec_dict(build_module(graph), inputs, source=str(path))
            except UserError as exc:
                raise exc.located(file=str(path)) from None
            back = build_graph(parse_spec(spec, str(path)), batch=graph.batch, file=str(path))
            check_same_counts(graph, back)

        tally.record("torch import", path, run)
        path.unlink()


# ---- through the command line ------------------------------------------------------------------------------------

CLI_COMMANDS: list[list[str]] = [
    ["analyze", "{spec}", "--hw", "a100", "-f", "json"],
    ["analyze", "{spec}"],
    ["analyze", "{spec}", "-f", "csv", "--depth", "1"],
    ["compare", "{spec}", "--hw", "rtx4090"],
]


OUTPUT_IS_NOT_THE_REPORT = frozenset({"calibrate", "design", "sweep"})  # -o: a profile, a spec, a results table


def check_cli_result(file: Path, exit_code: int, stdout: str, stderr: str, command: list[str],
                     names_file: bool = True) -> str | None:
    """None when a CLI run behaved: exit 0 (JSON output, on stdout or in the -o file, valid and finite), or exit 2
    with exactly one stderr line ``error: ...`` naming the file (unless not ``names_file``: an option may be what is
    wrong) and nothing on stdout; else what went wrong."""
    if exit_code == 0:
        if "-f" in command and command[command.index("-f") + 1] == "json":
            text = stdout
            # the JSON went to the -o file (stdout empty: it was read as invalid JSON), except where -o is another
            # file (calibrate's fitted profile, design's spec, sweep's results) and the JSON still goes to stdout
            if "-o" in command and command[0] not in OUTPUT_IS_NOT_THE_REPORT:
                written = Path(command[command.index("-o") + 1])
                if not written.is_file():  # a device, a folder (a default name in it): the caller's to check
                    return None
                text = written.read_text(encoding="utf-8")
            try:
                json.loads(text, parse_constant=lambda token: (_ for _ in ()).throw(ValueError(token)))
            except ValueError as exc:
                return f"invalid JSON: {exc}"
        return None
    # what a command says on its way (models it skipped, warnings) may come before the one error line
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("skipped ", "warning: "))]
    if exit_code != 2:
        return f"exit {exit_code}: {stderr[-300:]!r}"
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"not one error line: {stderr[:300]!r}"
    if stdout.strip():
        return f"exit 2 after writing to stdout: {stdout[:300]!r}"
    if names_file and str(file) not in lines[0]:
        return f"error line does not name the file: {lines[0][:300]!r}"
    return None


def fuzz_cli(folder: Path, seed: int, count: int, tally: Tally, subprocess_every: int = 0) -> None:
    """Fuzzed specs through the CLI: in-process (typer's runner, the same entry point and error handling as the
    ``costmodel`` command) and, every ``subprocess_every``-th case, as a real ``python -m costmodel.cli`` process."""
    import subprocess
    import sys

    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    rng = random.Random(seed)
    for k in range(count):
        kind, content = spec_case(rng)
        path = write_case(folder, f"cli_{seed}_{k}.yaml", content)
        command = [part.format(spec=path) for part in rng.choice(CLI_COMMANDS)]
        as_process = subprocess_every > 0 and k % subprocess_every == 0

        def run(path: Path = path, command: list[str] = command, as_process: bool = as_process) -> None:
            if as_process:
                done = subprocess.run([sys.executable, "-m", "costmodel.cli", *command], capture_output=True,
                                      text=True, timeout=WALL_LIMIT_S - 5, cwd=folder, check=False,
                                      env={**os.environ, "COLUMNS": "100"})
                problem = check_cli_result(path, done.returncode, done.stdout, done.stderr, command)
            else:
                result = runner.invoke(app, command)
                problem = check_cli_result(path, result.exit_code, result.stdout, result.stderr, command)
            if problem:
                raise AssertionError(problem)

        limit = TIME_LIMIT_S + 5 if as_process else TIME_LIMIT_S  # a process also starts Python and imports
        tally.record(f"cli{'-process' if as_process else ''}:{kind}", path, run, limit)
        path.unlink()


# ---- design spaces through `costmodel sweep` ------------------------------------------------------------------------

SPACES = sorted((ROOT / "arch_specs" / "spaces").glob("*.yaml"))
SPACE_VARIABLES: list[Any] = [
    {"int": [5, 3]}, {"int": [0, 0]}, {"int": [1, 10**30]}, {"int": [-(10**30), 10**30], "size": 3},
    {"int": [1, 4], "step": 0}, {"int": [1, 4], "step": 10**20}, {"choices": []}, {"choices": [None]},
    {"choices": ["x", 1.5]}, {"choices": [[1, 2]]}, {"uniform": [1.0, 1.0]}, {"uniform": [2.0, 1.0]},
    {"uniform": [math.nan, 1.0]}, {"uniform": [-math.inf, math.inf]}, {"log_uniform": [0, 1]},
    {"log_uniform": [-1.0, 2.0]}, {"log_uniform": [1e-300, 1e300]}, {"log_uniform": [1.0, math.inf]},
    {"int": [1, 4], "size": 0}, {"int": [1, 4], "size": [0, 3]}, {"int": [1, 4], "size": 10**9},
    {"int": [1, 4], "size": [10**5, 10**5]}, {"int": [1, 4], "size": [2, 2, 2]}, {"int": [1, 4], "size": -1},
    {"uniform": [0.5, 2.0], "levels": 0}, {"uniform": [0.5, 2.0], "levels": 10**12}, {"choices": [1, 2], "int": [1, 2]},
    {}, None, 3, "int", {"int": "1..4"}, {"int": [1]}, {"int": [1, 2, 3]}, {"choices": list(range(10**5))},
]
SPACE_DERIVED = [
    "nope + 1", "depth * 10**9", "[d * 1000 for d in depth]", "[0] * 4", "[-1, -1, -1, -1]", "[]", "i", "depths",
    "[make_divisible(w * 10**12, 8) for w in width]", "widths[0]", "regnet_stages(0, 0, 0, 0)",
    "regnet_stages(w0, wa, wm, 10**9)", "[[1]] * 7", "1 / 0", "'a' * 10", "[1.5, 2.5, 3.5, 4.5]", "None",
]
SPACE_CONSTRAINTS = [
    "macs < 0", "params > 1e30", "flops_per_watt <= 3", "latency.tpu_v9 <= 1", "throughput.a100 >= 1",
    "latency.a100 <= 1e-12", "macs", "1 / 0 > 0", "nope > 1", "macs <= 'a'", "entropy > 0", "depth[99] > 1",
    "macs <= float('nan')", "peak_memory >= 0 and effectiveness < 0", "latency.epyc_zen3_vm_b < 1e9", "latency. a100",
    "latency.a100.x < 1", "params", "[1] * 10**9 == 1", "len(depths) == 99",
]


def mutate_space(data: Any, rng: random.Random) -> Any:
    """One to three mutations aimed at a design space's parts: a variable's kind and range (empty, reversed,
    huge, malformed), a derived expression (unknown names, values no spec takes), a constraint (unknown metric or
    device, infeasible, not a comparison), a top-level key (missing, a bad base, batch, dtype or precision), or
    :func:`mutate_data`'s structural ones."""
    data = copy.deepcopy(data)
    if not isinstance(data, dict):
        return data
    if rng.random() < 0.4 and isinstance(data.get("variables"), dict) and data["variables"]:
        _stretch(rng.choice(list(data["variables"].values())), rng)  # a space that loads: its candidates' edges
        if rng.random() < 0.5:
            data["constraints"] = [*(data.get("constraints") or []), rng.choice(SPACE_CONSTRAINTS)]
        return data
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        variables, derived = data.get("variables"), data.get("derived")
        if roll < 0.25 and isinstance(variables, dict):
            name = rng.choice([*variables, "zz"]) if variables else "zz"
            variables[name] = copy.deepcopy(rng.choice(SPACE_VARIABLES))
        elif roll < 0.45 and isinstance(derived, dict):
            name = rng.choice([*derived, "zz"]) if derived else "zz"
            derived[name] = rng.choice([*SPACE_DERIVED, rng.choice(HOSTILE_EXPRESSIONS), random_expression(rng)])
        elif roll < 0.65:
            constraints = data.get("constraints")
            constraints = constraints if isinstance(constraints, list) else []
            text = rng.choice([*SPACE_CONSTRAINTS, f"macs <= {random_expression(rng)}"])
            data["constraints"] = [*constraints, text] if rng.random() < 0.7 else [text]
        elif roll < 0.8:
            key = rng.choice(["name", "base", "variables", "derived", "constraints", "batch", "dtype", "precision"])
            if rng.random() < 0.4:
                data.pop(key, None)
            else:
                data[key] = rng.choice({
                    "base": ["nope", "resnet50", "../../etc/passwd", "", ".", "spaces/regnet.yaml", 7],
                    "batch": [0, -1, 10**9, 2**63, "x", 1.5, None],
                    "dtype": ["fp8", "int4", "x", "bf16", "fp16", "", None],
                    "precision": ["amp", "x", "uniform", None],
                }.get(key, [None, {}, [], "x", 0]))
        else:
            data = mutate_data(data, rng)
            if not isinstance(data, dict):
                return data
    return data


def _stretch(variable: Any, rng: random.Random) -> None:
    """Move one end of a well-formed variable to an edge its space did not plan for (0 or -1 blocks, a range 3x
    wider, one value, a factor near 0): the space still loads, and its candidates meet the spec's limits."""
    if not isinstance(variable, dict):
        return
    if isinstance(variable.get("int"), list) and len(variable["int"]) == 2:
        lo, hi = variable["int"]
        variable["int"] = rng.choice([[0, hi], [-1, hi], [lo, 3 * hi], [lo, lo], [hi, hi]])
    elif isinstance(variable.get("choices"), list):
        variable["choices"] = [*variable["choices"], rng.choice([0, -1, 1, 99, 0.5])]
    else:
        for kind in ("uniform", "log_uniform"):
            if isinstance(variable.get(kind), list) and len(variable[kind]) == 2:
                lo, hi = variable[kind]
                variable[kind] = rng.choice([[lo / 100, hi], [lo, hi * 10], [lo, lo], [hi, hi]])


SWEEP_OPTIONS: list[list[str]] = [[], ["--hw", "a100"], ["--hw", "epyc_zen3_vm_b"], ["--sampler", "grid"],
                                  ["--sampler", "sobol"], ["--hw", "a100", "--hw", "epyc_zen3_vm_b"]]


def space_case(rng: random.Random) -> tuple[str, str | bytes]:
    """(kind, file content) of one fuzzed design space; its base names a zoo spec (no file beside the copy)."""
    source = rng.choice(SPACES)
    text = source.read_text(encoding="utf-8")
    if rng.random() < 0.2:
        return f"space-text:{source.stem}", mutate_text(text, rng)
    return f"space:{source.stem}", _dump(mutate_space(yaml.safe_load(text), rng))


def fuzz_spaces(folder: Path, seed: int, count: int, tally: Tally) -> None:
    """Fuzzed design spaces through ``costmodel sweep`` in-process, one worker, a few candidates: exit 0 with a
    results file, or exit 2 with one error line naming the space file and no results file left behind."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    rng = random.Random(seed)
    for k in range(count):
        kind, content = space_case(rng)
        path = write_case(folder, f"space_{seed}_{k}.yaml", content)
        output = folder / f"space_{seed}_{k}.{rng.choice(['csv', 'parquet'])}"
        command = ["sweep", str(path), "-o", str(output), "--samples", str(rng.choice([1, 2, 3])), "--workers", "1",
                   *rng.choice(SWEEP_OPTIONS)]

        def run(path: Path = path, output: Path = output, command: list[str] = command) -> None:
            result = runner.invoke(app, command)
            problem = check_cli_result(path, result.exit_code, result.stdout, result.stderr, command)
            if problem is None:
                problem = _left_behind(output, result.exit_code)
            if problem:
                raise AssertionError(problem)
            tally.exits[result.exit_code] += 1

        tally.record(kind, path, run)
        for leftover in folder.glob(f"space_{seed}_{k}.*"):
            if leftover.is_dir():
                import shutil

                shutil.rmtree(leftover)
            else:
                leftover.unlink()


def _left_behind(output: Path, exit_code: int) -> str | None:
    """What a run left that it should not have: on success, a results file; on a clean error, no results file and
    no folder of partial chunks (nothing half-written)."""
    partial = output.with_name(output.name + ".partial")
    if exit_code == 0:
        return None if output.is_file() else f"exit 0 but no {output.name}"
    if output.exists() or partial.exists():
        return f"exit {exit_code} left {output.name if output.exists() else partial.name} behind"
    return None


# ---- measurement files through `costmodel calibrate` ----------------------------------------------------------------

CALIBRATION_SOURCE = ROOT / "tests" / "fixtures" / "cpu_bench_epyc_zen3_vm_b_1t_0337.csv"
CALIBRATION_MODELS = ["resnet18", "mobilenetv3_small_100", "mobilenetv3_large_100", "ghostnet_100", "levit_128",
                      "mnasnet_100", "efficientnet_b0", "deit_tiny_patch16_224", "fasternet_t0", "mobileone_s0"]
CALIBRATION_CELLS = ["nan", "NaN", "inf", "-inf", "0", "-1", "-0.0", "1e-320", "1e308", "1e-300", "", "x", "1,5",
                     "9" * 30, "2**63", "0x10", " 5 ", "1e400"]
CALIBRATE_OPTIONS: list[list[str]] = [[], ["--threads", "2"], ["--prior-weight", "0"], ["--prior-weight", "1e6"],
                                      ["-f", "json"], ["--apply-to", "epyc_zen5_vm"], ["--apply-to", "a100"],
                                      ["--device", "epyc_zen3_vm_b_1t"], ["--device", "other"], ["--dtype", "fp16"],
                                      ["--fusion", "compile"], ["--precision", "amp"],
                                      ["--apply-to", "epyc_zen5_vm", "--carry", "shape"], ["--carry", "all"],
                                      ["--apply-to", "epyc_zen3_vm_b"], ["--apply-to", "rtx4090", "--carry", "shape"],
                                      ["--apply-to", str(PROFILES_DIR / "tpu_v5e.yaml"), "--carry", "all"],
                                      ["--apply-to", "nope"], ["--carry", "level", "--apply-to", "pixel4"]]


def calibration_case(rng: random.Random) -> str:
    """A measurement file for ``calibrate`` made from a few small models of a CPU bench fixture, then spoiled:
    columns missing, cells NaN, zero, negative, out of range or not numbers, unknown models, rows repeated (alike
    or contradicting), several devices, an image size no spec takes, no rows at all."""
    lines = CALIBRATION_SOURCE.read_text(encoding="utf-8").splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.startswith("model,"))
    header = lines[header_at].split(",")
    by_model = {line.split(",", 1)[0]: line.split(",") for line in lines[header_at + 1:] if line and line[0] != "#"}
    rows = [list(by_model[m]) for m in rng.sample(CALIBRATION_MODELS, rng.randint(1, 5)) if m in by_model]
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.35 and rows:  # a spoiled cell
            row = rng.choice(rows)
            column = rng.choice([c for c in ("infer_samples_per_sec", "infer_step_time", "infer_batch_size",
                                             "infer_img_size", "param_count", "dtype", "model", "device")
                                 if c in header] or header)
            row[header.index(column)] = rng.choice([*CALIBRATION_CELLS, "nope", "fp8", "resnet50"])
        elif roll < 0.5:  # a column missing (from the header and every row)
            k = rng.randrange(len(header))
            header = header[:k] + header[k + 1:]
            rows = [row[:k] + row[k + 1:] for row in rows]
        elif roll < 0.7 and rows:  # a row repeated, alike or with another throughput
            row = list(rng.choice(rows))
            if rng.random() < 0.5:
                at = header.index("infer_samples_per_sec") if "infer_samples_per_sec" in header else 0
                row[at] = rng.choice(["1", "1000", "0.001", row[at]])
            rows.insert(rng.randrange(len(rows) + 1), row)
        elif roll < 0.8 and rows and "device" in header:  # a second device
            rng.choice(rows)[header.index("device")] = "other"
        elif roll < 0.9:  # an unknown model
            row = list(rows[0]) if rows else ["nope"] * len(header)
            row[0] = rng.choice(["nope", "", "resnet18 ", "RESNET18"])
            rows.append(row)
        else:
            rows = [] if rng.random() < 0.5 else rows[:1]
    return "\n".join([",".join(header), *(",".join(row) for row in rows)]) + "\n"


def fuzz_calibrations(folder: Path, seed: int, count: int, tally: Tally) -> None:
    """Fuzzed measurement files through ``costmodel calibrate`` (a quarter through ``validate``) in-process, on a
    CPU profile, sometimes with options: exit 0 (calibrate: with a fitted profile that loads and predicts a finite
    latency), or exit 2 with one error line naming the measurement file and no profile written."""
    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    rng = random.Random(seed)
    for k in range(count):
        path = write_case(folder, f"measured_{seed}_{k}.csv", calibration_case(rng))
        output = folder / f"fitted_{seed}_{k}.yaml"
        hw = rng.choice(["epyc_zen3_vm_b", "epyc_zen3_vm_b", "epyc_9654", "rtx3090"])  # a GPU base: another kind
        threads = ["--threads", "1"] if hw != "rtx3090" else []  # on a GPU an error of its own, before the file's
        if rng.random() < 0.25:  # validate reads the same files
            options = rng.choice([o for o in CALIBRATE_OPTIONS
                                  if not {"--apply-to", "--prior-weight", "--carry"} & set(o)])
            command = ["validate", str(path), "--hw", hw, *threads, *options]
        else:
            options = rng.choice(CALIBRATE_OPTIONS)
            command = ["calibrate", str(path), "--hw", hw, *threads, "-o", str(output), *options]

        def run(path: Path = path, output: Path = output, command: list[str] = command,
                names_file: bool = not options) -> None:
            result = runner.invoke(app, command)
            problem = check_cli_result(path, result.exit_code, result.stdout, result.stderr, command, names_file)
            if problem is None and result.exit_code == 0 and command[0] == "calibrate":
                problem = _fitted_predicts(output)
            elif problem is None and output.exists():
                problem = f"exit {result.exit_code} left {output.name} behind"
            if problem:
                raise AssertionError(problem)
            tally.exits[result.exit_code] += 1

        tally.record(command[0], path, run)
        path.unlink()
        output.unlink(missing_ok=True)


def _fitted_predicts(output: Path) -> str | None:
    """None when the profile ``calibrate`` wrote loads and predicts a finite, positive latency; else why not."""
    from costmodel.graph import load_graph
    from costmodel.hardware import load_profile_file
    from costmodel.latency import estimate

    if not output.is_file():
        return f"exit 0 but no {output.name}"
    seconds = estimate(load_graph(ROOT / "arch_specs" / "resnet18.yaml"), load_profile_file(output)).summary.latency_s
    return None if math.isfinite(seconds) and seconds > 0 else f"the fitted profile predicts {seconds} s"


# ---- command-line options ------------------------------------------------------------------------------------------

NUMBERS = ["0", "-1", "1.5", "x", "", "1e3", "9223372036854775808", "9" * 30, "1" + "0" * 400, "nan", "inf"]
FACTORS = ["400", "x2", "x0", "x-1", "0", "-5", "inf", "nan", "x", "xnan", "1e400", "x1e-300", "xinf", "1e-300",
           "x1e300", "1e12", " x2", "2x"]
OPTION_VALUES: dict[str, list[str]] = {
    "--batch": ["1", "2", "7", "256", "4096", "2147483648", *NUMBERS],
    "--dtype": ["fp32", "fp16", "bf16", "tf32", "fp8", "int8", "FP16", "fp12", "", "int4", "float32"],
    "--threads": ["1", "2", "3", "64", "1000000", *NUMBERS],
    "--input": ["image=3,224,224", "image=3,64,64", "image=3,17,5", "image=0,0,0", "image=3,-1,5", "image=",
                "=3,224,224", "image", "x=3,8,8", "image=3,1e9,1e9", "image=3,224", "image=3,100000,100000",
                "image=3,224,224,2", "image=a,b,c", "image=3,4294967296,1", "image=3, 8, 8",
                "image=3,1" + "0" * 400 + ",8"],  # an int beyond a float's range
    "--depth": ["0", "1", "2", "3", "all", "ALL", "-1", "x", "99", "", "1.5"],
    "--top": ["1", "5", "1000000", *NUMBERS],
    "--sort": ["latency", "macs", "params", "memory", "x", "", "MACS"],
    "--hw": ["a100", "rtx4090", "epyc_zen3_vm_b", "jetson_agx_orin", "tpu_v5e", "nope", "", ".", "/dev/null",
             "hardware_profiles", "A100", "a100 ", "../hardware_profiles/a100.yaml"],
    "--fusion": ["none", "epilogue", "compile", "block", "x", ""],
    "--sweep-batch": ["1,8", "1", "0", "1,,2", "x", "-1", ",".join(map(str, range(1, 40))), "4096", "1e3", ",",
                      "9" * 30, "1" + "0" * 400, "1, 8", "2147483648"],
    "--batches": ["1,8", "1", "0", "1,,2", "x", "-1", "4096", ",", "9" * 30, "1" + "0" * 400],
    "--peak": FACTORS, "--bandwidth": FACTORS, "--overhead": FACTORS, "--host-overhead": FACTORS,
    "--precision": ["uniform", "amp", "x", ""],
    "--set": ["depths=[1,1,1,1]", "x=1", "=1", "depths=&a [*a, *a]", "depths=[0,0,0,0]", "depths=[-1,1,1,1]",
              "depths=", "depths=[1000000000,1,1,1]", "depths=!!python/object:os.system x", "depths=[1,1]",
              "depths=[[1]]", "depths={a: 1}", "depths='1'", "depths=9**9**9"],
    "-f": ["json", "csv", "table", "markdown", "x", "yaml", ""],
    "--convention": ["paper", "official", "x"],
    "--device": ["cpu", "cuda", "tpu", "", "CPU"],
    "--warmup": ["0", "1", "-1", "x", "1.5"],
    "--repeat": ["1", "2", "3", "0", "-1", "x"],
    "--min-time": ["0", "0.01", "-1", "nan", "inf", "1e400", "x"],
    "--rounds": ["1", "2", "3", "0", "-1", "x"],
    "--label": ["mybox", "a,b", "a\nb", "", "x" * 300, "\u00e9", '"q"', "#c"],
    "--per-layer": [], "--channels-last": [],  # flags
}
OPTION_COMMANDS: list[tuple[list[str], list[str]]] = [  # (command and arguments, the options it takes)
    (["analyze", "{spec}"], ["--batch", "--dtype", "--threads", "--input", "--depth", "--top", "--sort", "--hw", "--hw",
                             "--fusion", "--sweep-batch", "--peak", "--bandwidth", "--overhead", "--host-overhead",
                             "--precision", "--set", "-f", "-o"]),
    (["analyze", "{spec}", "--hw", "epyc_zen3_vm_b"], ["--batch", "--dtype", "--threads", "--input", "--sweep-batch",
                                                       "--peak", "--bandwidth", "--overhead", "--host-overhead",
                                                       "--set", "-f", "--top"]),
    (["compare", "{spec}", "mobilenetv2_100"], ["--hw", "--hw", "--batch", "--dtype", "--fusion", "-f", "--set",
                                                "-o"]),
    (["hw", "show", "{hw}"], ["-f", "--threads"]),
    (["hw", "list"], ["-f"]),
    (["design", "score", "{spec}"], ["-f", "--convention"]),
    (["zoo", "list"], ["-f"]),
    (["plot", "throughput", "{spec}"], ["--hw", "--dtype", "--fusion", "--batches", "-o"]),
    (["plot", "roofline", "{spec}"], ["--hw", "--dtype", "--batch", "-o"]),
    (["bench", "{tiny}", "--warmup", "0", "--repeat", "2"],  # needs torch; a tiny spec, so a run takes milliseconds
     ["--device", "--batch", "--dtype", "--warmup", "--repeat", "--min-time", "--rounds", "--hw", "--fusion",
      "--per-layer", "--label", "--threads", "--input", "--channels-last", "-o"]),
]
TINY_SPEC = "name: tiny\ninputs: {image: [3, 16, 16]}\nnodes:\n  - {name: conv, op: conv2d, out: 8, kernel: 3}\n" \
            "  - {name: act, op: relu}\n"
OPTION_SPECS = ["resnet18", "mobilenetv2_100", str(ROOT / "arch_specs" / "levit_128.yaml"), "vit_small_patch16_224",
                "nope", str(ROOT / "arch_specs"), str(ROOT / "README.md")]  # the runs' folder is a scratch one
OUTPUTS = ["out.json", "out.csv", "out.txt", "out.md", "out.yaml", "sub/out.json", "file/out.json", "out.png", "dir",
           "new/deeper/out.json", "new/" + "o" * 250 + ".json"]  # a 255-byte name: the longest a file may have


def option_case(rng: random.Random, folder: Path) -> tuple[list[str], Path | None]:
    """A command line of a costmodel command with one to four of its options, each a usual or a hostile value, and
    the -o path it names (None without one)."""
    commands = [c for c in OPTION_COMMANDS if c[0][0] != "bench" or importlib.util.find_spec("torch") is not None]
    base, options = rng.choice(commands)
    command = [part.format(spec=rng.choice(OPTION_SPECS), hw=rng.choice(OPTION_VALUES["--hw"]),
                           tiny=folder / "tiny.yaml") for part in base]
    output = None
    for option in rng.sample(options, min(len(options), rng.randint(1, 4))):
        if option == "-o":
            output = folder / rng.choice(OUTPUTS)
            command += ["-o", str(output)]
        else:
            command += [option, *([rng.choice(OPTION_VALUES[option])] if OPTION_VALUES[option] else [])]
    return command, output


def fuzz_options(folder: Path, seed: int, count: int, tally: Tally) -> None:
    """Fuzzed option values through the CLI in-process (analyze, compare, hw, design score, zoo, plots): exit 0
    (JSON valid and finite, the -o file written), or exit 2 with one error line, nothing on stdout, and no -o file
    or folder it created."""
    import shutil

    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    rng = random.Random(seed)
    if importlib.util.find_spec("torch") is not None:  # imported before the clock of the first bench case starts
        from costmodel.bridges.torch import SpecModule  # noqa: F401  (imports torch)
    kept = ("dir", "file", "tiny.yaml")
    (folder / "dir").mkdir(exist_ok=True)
    (folder / "file").write_text("a file where a folder is expected\n")
    (folder / "tiny.yaml").write_text(TINY_SPEC)
    for k in range(count):
        command, output = option_case(rng, folder)
        label = folder / f"options_{seed}_{k}"  # names the case in the tally (no file of its own)

        def run(command: list[str] = command, output: Path | None = output, label: Path = label) -> None:
            here = os.getcwd()
            os.chdir(folder)  # a plot without -o writes into the current folder
            try:
                result = runner.invoke(app, command, env={"COLUMNS": "100"})
            finally:
                os.chdir(here)
            problem = check_cli_result(label, result.exit_code, result.stdout, result.stderr, command,
                                       names_file=False)
            if problem is None and output is not None and not output.is_dir():
                written = output.exists() or any(output.parent.glob(f"{output.stem}*"))
                if result.exit_code == 0 and not written:
                    problem = f"exit 0 but nothing written at {output.name}"
                elif result.exit_code != 0 and written:
                    problem = f"exit {result.exit_code} left {output.name} behind"
            if problem is None and result.exit_code != 0:  # nothing half-written: no file, no folder it created
                left = sorted(p.name for p in folder.iterdir() if p.name not in kept)
                if left:
                    problem = f"exit {result.exit_code} left {', '.join(left)} behind"
            if problem is None and result.exit_code == 0 and command[0] == "bench" and output and output.is_file():
                from costmodel.calibration.measurements import read_measurements
                from costmodel.errors import MeasurementError

                try:  # what bench writes, calibrate and validate read
                    read_measurements(output)
                except MeasurementError as exc:
                    problem = f"bench wrote a file calibrate cannot read: {exc}"
            if problem:
                raise AssertionError(f"{' '.join(command)}: {problem}")
            tally.exits[result.exit_code] += 1

        tally.record(command[0], label, run)
        for leftover in folder.iterdir():
            if leftover.name not in kept:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        for leftover in (folder / "dir").iterdir():
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


# ---- sweep results through `costmodel plot sweep` ------------------------------------------------------------------

PLOT_SWEEP_SPACE = ROOT / "arch_specs" / "spaces" / "ofa_mbv3.yaml"


def sweep_results(folder: Path) -> Any:
    """A small sweep's results (24 candidates of the OFA-MobileNetV3 space on a100 and a CPU) as a DataFrame."""
    import pandas as pd
    from typer.testing import CliRunner

    from costmodel.cli import app

    path = folder / "base.parquet"
    result = CliRunner().invoke(app, ["sweep", str(PLOT_SWEEP_SPACE), "--samples", "24", "--workers", "1", "--hw",
                                      "a100", "--hw", "epyc_zen3_vm_b", "-o", str(path)])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(path)
    path.unlink()
    return frame


def results_case(frame: Any, rng: random.Random) -> tuple[str, Any]:
    """(suffix, content) of a spoiled results file: the frame with columns dropped, renamed or filled with NaN, inf,
    negatives, zeros, text or mixed types, rows cut to none or one (written as CSV or Parquet), or the bytes of such
    a file truncated, flipped, emptied, or under the other format's suffix."""
    frame = frame.copy()
    columns = list(frame.columns)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        column = rng.choice(columns) if columns else None
        if roll < 0.15 and column is not None:
            frame = frame.drop(columns=[column])
        elif roll < 0.25 and column is not None:
            frame = frame.rename(columns={column: rng.choice(["", "latency.", "latency..x", "params", "latency.a100",
                                                              "x\ny", "macs", column.upper()])})
        elif roll < 0.55 and column is not None and len(frame):
            value = rng.choice([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e308, 1e-308, "x", "", None, True])
            rows = frame.index if rng.random() < 0.5 else frame.index[: rng.randint(1, len(frame))]
            frame[column] = frame[column].astype(object)
            frame.loc[rows, column] = value
        elif roll < 0.65:
            frame = frame.iloc[: rng.choice([0, 1, 2])]
        elif roll < 0.75:
            frame = frame.iloc[:, : rng.randint(0, len(frame.columns))]
        columns = list(frame.columns)
    suffix = rng.choice([".csv", ".parquet"])
    return suffix, frame


def _results_bytes(frame: Any, suffix: str, rng: random.Random) -> tuple[str, bytes]:
    import io

    buffer = io.BytesIO()
    try:
        if suffix == ".csv":
            buffer.write(frame.to_csv(index=False).encode("utf-8", errors="surrogatepass"))
        else:
            frame.to_parquet(buffer, index=False)
    except Exception:  # noqa: BLE001 - pyarrow refuses a column of mixed types: write it as CSV
        suffix, buffer = ".csv", io.BytesIO(frame.to_csv(index=False).encode("utf-8", errors="surrogatepass"))
    data = buffer.getvalue()
    roll = rng.random()
    if roll < 0.1:
        data = data[: rng.randrange(len(data) + 1)]
    elif roll < 0.17 and data:
        at = rng.randrange(len(data))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
    elif roll < 0.2:
        data = b""
    elif roll < 0.25:
        suffix = {".csv": ".parquet", ".parquet": ".csv"}[suffix]
    elif roll < 0.28:
        suffix = rng.choice([".txt", ".json", ""])
    return suffix, data


PLOT_SWEEP_OPTIONS: dict[str, list[str]] = {
    "--metric": ["entropy", "throughput.a100", "params", "macs", "nope", "", "latency.a100", "effectiveness",
                 "depth"],
    "--color-by": ["depth", "kernel", "expand", "nope", "params", "", "exps"],
    "--device": ["a100", "epyc_zen3_vm_b", "nope", "", "A100"],
}


def fuzz_plot_sweep(folder: Path, seed: int, count: int, tally: Tally) -> None:
    """Spoiled sweep results through ``costmodel plot sweep`` in-process: exit 0 with its three figures, or exit 2
    with one error line and none of them (nothing half-written)."""
    import shutil

    from typer.testing import CliRunner

    from costmodel.cli import app

    runner = CliRunner()
    rng = random.Random(seed)
    frame = sweep_results(folder)
    for k in range(count):
        suffix, spoiled = results_case(frame, rng)
        suffix, data = _results_bytes(spoiled, suffix, rng)
        path = write_case(folder, f"results_{seed}_{k}{suffix}", data)
        stem = folder / f"plot_{seed}_{k}"
        command = ["plot", "sweep", str(path), "-o", str(stem)]
        for option in rng.sample(list(PLOT_SWEEP_OPTIONS), rng.randint(0, 2)):
            command += [option, rng.choice(PLOT_SWEEP_OPTIONS[option])]

        def run(path: Path = path, stem: Path = stem, command: list[str] = command) -> None:
            result = runner.invoke(app, command)
            options_only = any(o in command for o in PLOT_SWEEP_OPTIONS)  # then an option may be what is wrong
            problem = check_cli_result(path, result.exit_code, result.stdout, result.stderr, command,
                                       names_file=not options_only)
            figures = sorted(p.name for p in folder.glob(f"{stem.name}_*"))
            if problem is None and result.exit_code == 0 and len(figures) != 6:
                problem = f"exit 0 but figures {figures}"
            elif problem is None and result.exit_code != 0 and figures:
                problem = f"exit {result.exit_code} left {', '.join(figures)} behind"
            if problem:
                raise AssertionError(problem)
            tally.exits[result.exit_code] += 1

        tally.record(f"plot-sweep{suffix}", path, run)
        for leftover in folder.glob(f"*_{seed}_{k}*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
