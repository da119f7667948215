"""What-if changes to a profile (``--peak``, ``--bandwidth``, ``--overhead``, ``--host-overhead``) and the template
of a new profile (``costmodel hw new NAME``)."""

from __future__ import annotations

from pydantic import ValidationError

from ..errors import HardwareError
from ..validation import first_problem
from ..vocab import Dtype
from .profile import HardwareProfile

CHANGED = "what-if override on the command line"


def _amount(text: str, option: str, unit: str) -> tuple[str, float]:
    """``'x1.5'`` -> ('scale', 1.5); ``'500'`` -> ('set', 500.0); anything else is a HardwareError."""
    value = text.strip().lower()
    kind = "scale" if value.startswith(("x", "*")) else "set"
    try:
        number = float(value[1:] if kind == "scale" else value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise HardwareError(f"{option} expects a positive number in {unit} or a factor such as x1.5, got {text!r}")
    return kind, number


def what_if(profile: HardwareProfile, *, dtype: str, peak: str | None = None, bandwidth: str | None = None,
            overhead: str | None = None, host: str | None = None) -> HardwareProfile:
    """``profile`` with changed figures, renamed ``NAME (what-if: ...)`` and the changed figures' sources saying so.

    ``peak``: TFLOP/s for ``dtype`` on the unit GEMMs use (matrix when the profile has a matrix ``dtype`` peak, else
    vector), or ``xF`` to scale every peak; ``bandwidth``: GB/s or ``xF``; ``overhead``: µs per kernel or ``xF``;
    ``host``: the host's µs per op (``host_overhead_us``) or ``xF``: a figure of the host CPU and software stack that
    issues the ops, not of the accelerator (docs/latency-model.md, "Launch overhead and the host stream"). A profile
    without a host stream (a CPU: the same thread issues and computes; an XLA-compiled TPU) refuses it."""
    data = profile.model_dump()
    sources = dict(data["sources"])
    notes = []
    if peak is not None:
        kind, number = _amount(peak, "--peak", "TFLOP/s")
        if kind == "scale":
            for unit in ("vector", "matrix"):
                data["peak"][unit] = {d: v * number for d, v in data["peak"][unit].items()}
                sources.update({f"peak.{unit}.{d}": CHANGED for d in data["peak"][unit]})
            notes.append(f"peaks x{number:g}")
        else:
            unit = "matrix" if dtype in data["peak"]["matrix"] else "vector"
            data["peak"][unit][dtype] = number
            sources[f"peak.{unit}.{dtype}"] = CHANGED
            notes.append(f"{unit} {dtype} {number:g} TFLOP/s")
    fp32, cpu = profile.peak.vector.get(Dtype.FP32), data.get("cpu")
    if cpu is not None and fp32 and data["peak"]["vector"].get(Dtype.FP32) != fp32:  # a CPU's fp32 peak is its cores x
        cpu["clock_ghz"] *= data["peak"]["vector"][Dtype.FP32] / fp32  # FLOP/cycle x clock: the clock moves with it
        sources["cpu.clock_ghz"] = CHANGED
    if bandwidth is not None:
        kind, number = _amount(bandwidth, "--bandwidth", "GB/s")
        old = data["memory"]["bandwidth_gbs"]
        data["memory"]["bandwidth_gbs"] = old * number if kind == "scale" else number
        sources["memory.bandwidth_gbs"] = CHANGED
        notes.append(f"{data['memory']['bandwidth_gbs']:g} GB/s")
    if overhead is not None:
        kind, number = _amount(overhead, "--overhead", "µs")
        old = data["launch_overhead_us"]
        data["launch_overhead_us"] = old * number if kind == "scale" else number
        sources["launch_overhead_us"] = CHANGED
        notes.append(f"{data['launch_overhead_us']:g} µs per kernel")
    if host is not None:
        kind, number = _amount(host, "--host-overhead", "µs")
        old = data["host_overhead_us"]
        if not old:
            raise HardwareError(f"--host-overhead {host}: {profile.key} has no host stream (a {profile.kind.value} "
                                "profile: no host_overhead_us); it applies to accelerators run from a host CPU")
        data["host_overhead_us"] = old * number if kind == "scale" else number
        sources["host_overhead_us"] = CHANGED
        notes.append(f"host {data['host_overhead_us']:g} µs per op")
    if not notes:
        return profile
    data.update(name=f"{profile.name} (what-if: {', '.join(notes)})", aliases=[], sources=sources)
    try:
        changed = HardwareProfile.model_validate(data)
    except ValidationError as exc:  # a figure out of range (inf, 1e13 TFLOP/s, 1e-300 GB/s): the option's fault
        problem = first_problem(exc)
        where = ".".join((*problem.path, problem.field or ""))
        asked = ", ".join(f"--{name} {value}" for name, value in (("peak", peak), ("bandwidth", bandwidth),
                                                                   ("overhead", overhead),
                                                                   ("host-overhead", host)) if value is not None)
        raise HardwareError(f"{asked} on {profile.key}: {where + ': ' if where else ''}{problem.message}") from None
    changed._file_stem = profile.key
    return changed


TEMPLATE = """\
# A hardware profile for costmodel: fill in every TODO (a 0 is rejected, naming the field), then use it with
# --hw {name}.yaml, or put the file in a folder listed in COSTMODEL_HW_PATH and use --hw {name}.
# Units: peaks in TFLOP/s (TOPS for int8), DENSE (no 2:4 sparsity); bandwidth in GB/s (1e9 bytes/s); capacity in
# GB; caches in MB (shared memory in KB per SM/CU); launch overhead in µs per kernel. See docs/latency-model.md.
name: {name}                 # the device's full name, shown in headers
aliases: []                  # other names --hw accepts
kind: gpu                    # gpu | cpu | npu | tpu
description: ""
peak:
  vector:                    # CUDA cores / SIMD lanes: depthwise convs, norms, elementwise ops
    fp32: 0                  # TODO: dense fp32 TFLOP/s of the vector units
  matrix:                    # tensor cores / matrix units (leave out a dtype the unit does not run)
    fp16: 0                  # TODO: dense fp16 TFLOP/s of the matrix units (delete for a CPU without them)
memory:
  type: TODO                 # e.g. HBM3, GDDR6X, LPDDR5, DDR5 (HBM gets a 0.85 memory efficiency, others 0.80)
  bandwidth_gbs: 0           # TODO: spec bandwidth
  capacity_gb: 0             # TODO
caches:                      # optional; drop the lines you do not know
  l2_mb: null
launch_overhead_us: 5        # fixed cost per kernel: ~5 µs for eager PyTorch on a discrete GPU, ~1-20 µs on CPUs
efficiency:                  # fractions of peak good kernels reach; the defaults are fine to start with
  memory: null               # null: 0.85 on HBM, 0.80 otherwise; compute: 0.9 on a GPU with gpu.sms, else 0.75
sources:                     # where each figure comes from (a datasheet, a paper, a measurement): required
  peak.vector.fp32: TODO
  peak.matrix.fp16: TODO
  memory.bandwidth_gbs: TODO
"""


def profile_template(name: str) -> str:
    """The commented YAML of a new profile named ``name``, every figure to fill in marked TODO."""
    return TEMPLATE.format(name=name)
