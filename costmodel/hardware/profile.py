"""Hardware profiles: the peak rates, memory system and efficiency factors the roofline model uses.

A profile is a YAML file validated by :class:`HardwareProfile`. Shipped profiles live in the repository's
``hardware_profiles/`` folder; extra folders can be listed in the ``COSTMODEL_HW_PATH`` environment
variable (``os.pathsep``-separated, searched first, so a user profile can shadow a shipped one).

Units: peak throughput in TFLOP/s (TOPS for int8), **dense** (no 2:4 sparsity); bandwidth in GB/s
(10^9 bytes/s); capacity in GB; caches in MB (shared memory in KB per SM/CU); launch overhead in
microseconds per kernel.

Every peak and bandwidth figure must name its origin in ``sources``, keyed by field path
(``"peak.matrix.fp16"``, ``"memory.bandwidth_gbs"``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ..errors import HardwareError, one_line, shown
from ..resources import profiles_dir
from ..validation import first_problem
from ..vocab import Carry, DeviceKind, Dtype, EfficiencyClass, Fusion, Unit
from ..yamlio import YamlError, load_yaml

DTYPES: tuple[str, ...] = Dtype.values()
UNITS: tuple[str, ...] = Unit.values()

MAX_FIGURE = 1e12  # in the field's unit (TFLOP/s, GB/s, GB, MB): far above any device, and keeps every derived
# figure (FLOP/s = TFLOP/s x 1e12, seconds, efficiencies) finite
MIN_FIGURE = 1e-9  # likewise far below any device (1 kFLOP/s, 1 byte/s): a peak of 1e-300 TFLOP/s at an efficiency
MIN_FRACTION = 1e-6  # of 1e-300 was a rate of 0 FLOP/s after underflow, and the latency model divided by it


def _not_below(floor: float) -> Callable[[float], float]:
    def check(value: float) -> float:
        if value < floor:
            raise ValueError(f"{value:g} is below {floor:g}: no device is that slow or small (the latency model's "
                             "rates would underflow to 0)")
        return value

    return check


Positive = Annotated[float, Field(gt=0, le=MAX_FIGURE), AfterValidator(_not_below(MIN_FIGURE))]
Fraction = Annotated[float, Field(gt=0, le=1), AfterValidator(_not_below(MIN_FRACTION))]

# The repository's hardware_profiles/, installed as the package data costmodel.profiles (see costmodel.resources).
SHIPPED_DIR = profiles_dir()
ENV_VAR = "COSTMODEL_HW_PATH"

# Defaults from the project's hardware notes: large GEMMs reach ~70-85 % of dense matrix peak; streaming
# kernels reach ~85 % of spec bandwidth on HBM and ~80 % on GDDR/LPDDR/DDR. On a GPU profile that gives its SM
# count, the model prices tile and wave quantization itself (latency/shape.py), so the factor left is a large,
# well-shaped GEMM's: cuBLAS HGEMM reaches 105-115 of the NVIDIA L20's 119.5 dense fp16 tensor TFLOP/s (88-96 %;
# DefTruth/CUDA-Learn-Notes, hgemm/README.md), hence 0.9 there (docs/latency-model.md, "Efficiency factors").
DEFAULT_COMPUTE_EFFICIENCY = 0.75
TILED_GPU_COMPUTE_EFFICIENCY = 0.9
HBM_MEMORY_EFFICIENCY = 0.85
OTHER_MEMORY_EFFICIENCY = 0.80


class _Model(BaseModel):
    """Base of the profile models: validators are built on first use (a plain count never reads a profile)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)  # finite figures only


class Peak(_Model):
    """Dense peak throughput per unit and dtype, in TFLOP/s (int8 in TOPS).

    ``vector``: CUDA cores / SIMD lanes (what depthwise convs, norms and elementwise ops run on).
    ``matrix``: tensor cores / matrix units. A dtype a unit does not support is simply absent.
    """

    vector: dict[Dtype, Positive] = Field(default_factory=dict)
    matrix: dict[Dtype, Positive] = Field(default_factory=dict)


class Memory(_Model):
    """Main (device or system) memory: technology, bandwidth in GB/s and capacity in GB."""

    type: str = Field(min_length=1, description="e.g. HBM3, GDDR6X, LPDDR5, DDR4")
    bandwidth_gbs: Positive
    capacity_gb: Positive

    @property
    def is_hbm(self) -> bool:
        """True for high-bandwidth memory (HBM, HBM2e, HBM3, ...)."""
        return self.type.upper().startswith("HBM")


class Caches(_Model):
    """On-chip caches, all optional: L2 (MB), last-level cache (MB), shared memory per SM/CU (KB)."""

    l2_mb: Positive | None = None
    llc_mb: Positive | None = None
    shared_memory_kb: Positive | None = None


class CpuId(_Model):
    """How to recognise a CPU from ``/proc/cpuinfo`` (``this-cpu``, :func:`detect_profile`): its ``vendor_id``,
    ``cpu family`` and ``model``, optionally the number of logical CPUs the system shows and flags it must have."""

    vendor: str = Field(min_length=1, description="vendor_id: AuthenticAMD, GenuineIntel...")
    family: int = Field(ge=0)
    model: int = Field(ge=0)
    logical_cpus: int | None = Field(default=None, ge=1)
    flags: list[str] = Field(default_factory=list)

    def matches(self, host: CpuId) -> bool:
        """Whether ``host`` (read from the machine, :func:`host_cpu`) is this CPU."""
        return (self.vendor == host.vendor and self.family == host.family and self.model == host.model
                and (self.logical_cpus is None or self.logical_cpus == host.logical_cpus)
                and set(self.flags) <= set(host.flags))


class ParallelFigures(_Model):
    """How one op class's kernels run on several threads, where it differs from the CPU's ``sync_us`` and
    ``parallel_efficiency`` (each None: those): ``sync_us``, what a parallel call of the class costs on top of its
    one-thread time (the libraries' fork/join, plus whatever else they do only when threaded), and
    ``efficiency``, its work's speed-up over one thread as a share of the threads' capacity."""

    sync_us: float | None = Field(default=None, ge=0, le=1e6)
    efficiency: Fraction | None = None


MAX_THREADS = 1_000_000  # threads a profile or --threads may name: beyond any machine, within a float's range


class Cpu(_Model):
    """A CPU's threading figures. The profile's peaks and bandwidth are for the whole chip (all ``cores``).

    ``threads``: what PyTorch uses by default (its default is the number of physical cores);
    ``flop_per_cycle_fp32`` and ``clock_ghz``: per-core fp32 FLOP/cycle of the ISA (AVX2 with 2 FMA pipes: 32,
    AVX-512 with 2 FMA pipes: 64, NEON with 2 x 128-bit FMA pipes: 16... see docs/latency-model.md) and the sustained
    clock, which give the peak per core; ``bandwidth_per_core_gbs``: what one core can stream (a core's outstanding
    misses cap it well below the chip's bandwidth); ``sync_us``: the fork/join cost of one parallel op.

    Eager-framework costs (docs/latency-model.md, "CPUs and threads"): ``dispatch_us``, per efficiency class, what
    an op of that class costs per call on top of ``launch_overhead_us`` (library entry, primitive lookup, layout
    setup: a depthwise conv or a batch norm costs several times a ReLU); ``grain_elements``, below which an
    elementwise / norm / reduction / data-movement op runs on one thread (PyTorch's ``at::internal::GRAIN_SIZE``);
    ``depthwise_ns``, the time per output element of a depthwise conv on one core on top of its FLOPs.

    Threading (docs/latency-model.md, "CPUs and threads"): ``parallel_efficiency``, the share of the threads'
    capacity a parallel kernel's work gets (its speed-up over one thread is capacity x efficiency; 1: perfect
    scaling, the default); ``conv1x1_threaded_us`` and ``conv1x1_threaded_speedup``: a 1x1 stride-1 fp32 conv that
    PyTorch runs natively on one thread and with oneDNN on several (``ConvParams::use_mkldnn``) costs this much more
    per call than on one thread and runs its work this many times as fast as on one thread (None: the fork/join
    ``sync_us`` and capacity x efficiency of any other parallel kernel); ``conv1x1_reorder_ns``: what such a conv
    costs on several threads per element of its input and output, the NCHW <-> blocked reorders oneDNN runs around it
    (0, the default: none priced apart); ``onednn_reorder_ns``: what any other conv PyTorch runs with oneDNN costs on
    one core per element of the NCHW activations oneDNN reorders to and from its blocked layout around it (the input
    unless it has at most 3 channels, and the output; none for a channels-last input; latency/cpu.py
    ``onednn_reorder_elements``), and ``onednn_conv_us`` what such a conv's call costs on top of the conv class's
    dispatch (oneDNN's own per-call cost; a depthwise conv's class dispatch holds it already); 0, the defaults: not
    priced apart; ``onednn_tail_reorder_ns``: what oneDNN's reorder costs more per element of an activation whose
    channels are not a multiple of its block (16 fp32 channels with AVX-512, 8 with AVX2: the generic ``jit:uni``
    reorder instead of ``jit:blk``), whatever the threads (0, the default: not priced; the block's padding of the conv's
    work is priced on every CPU profile, latency/cpu.py ``onednn_blocking``); ``cross_core_ns_per_kib``: what one core
    pays per KiB it reads out of another core's L2, beyond reading it from its own (the cross-core handoff: a kernel on
    several threads reading a tensor the kernel before it wrote under another split of the work over the cores,
    latency/cpu.py ``handoff_seconds``; 0, the default: not priced); ``parallel``, per efficiency class, the
    fork/join and efficiency of that class's parallel kernels where they differ from the CPU-wide figures
    (:class:`ParallelFigures`; oneDNN's convolutions, MKL's GEMMs and PyTorch's own kernels are different code).

    ``op_ns``: per op name, what one output element of that op costs on one core on top of its roofline terms
    (split over the threads like the work when the kernel is parallel): PyTorch's CPU kernels for some ops run far
    below the roofline (an erf or tanh per element; the scalar NCHW max-pool loop; a broadcast addcmul that misses
    the vectorized path). Measured per op, docs/latency-model.md.

    ``strided_norm_ns`` and ``strided_norm_output_ns``: what a p = 2 norm that ATen reduces over dims other than
    the innermost costs on one core per input element and per output element (its scalar ``binary_kernel_reduce``:
    one dependent multiply-add chain per output; GRN over a channels-last map, latency/contiguity.py
    ``strided_norms``), on top of its ``op_ns`` (measured on the vectorized path). 0, the default: not priced.

    ``view_us``: what a view op (reshape, permute, split, ...) costs per call in eager PyTorch on a CPU, where the
    thread that dispatches it is the one that computes: it launches no kernel, but the framework still runs it (0,
    the default: views are free, as on an accelerator whose host runs ahead).

    Memory the framework allocates per call: ``page_fault_us``, what the first touch of a fresh 4 KiB page costs
    (the kernel's page fault, and under a hypervisor the host's), paid by every buffer larger than
    ``mmap_threshold_mb`` (glibc's malloc maps those afresh on every allocation and unmaps them on free:
    DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit); 0, the default, prices none.

    Simultaneous multithreading (docs/latency-model.md, "CPUs and threads"): ``cores`` are physical cores;
    ``threads_per_core`` hardware threads (SMT siblings) run on each, sharing its FMA pipes, caches and miss
    buffers, and ``smt_yield`` is the throughput a sibling thread adds to a busy core, as a fraction of one
    thread's (0: none, 1: as much as another core). Threads fill the cores first, one each, then the siblings
    (:func:`smt_capacity`). A cloud vCPU is often one SMT thread, and a guest's ``lscpu`` need not show it.

    ``detect``: how to recognise the machine the profile describes, so that ``this-cpu`` finds it.
    """

    cores: int = Field(ge=1, le=100_000)  # bounded, as a GPU's SMs: 10**400 cores overflowed a float
    threads: int | None = Field(default=None, ge=1, le=MAX_THREADS)
    isa: str = Field(min_length=1, description="e.g. AVX2, AVX-512, NEON")
    flop_per_cycle_fp32: Positive
    clock_ghz: Positive
    bandwidth_per_core_gbs: Positive
    sync_us: float = Field(default=0.0, ge=0)
    dispatch_us: dict[EfficiencyClass, Annotated[float, Field(ge=0, le=1e6)]] = Field(default_factory=dict)
    grain_elements: int = Field(default=32768, ge=1)
    depthwise_ns: float = Field(default=0.0, ge=0, le=1e6)
    parallel_efficiency: Fraction = 1.0
    conv1x1_threaded_us: float | None = Field(default=None, ge=0, le=1e6)
    conv1x1_threaded_speedup: float | None = Field(default=None, gt=0, le=1e4)
    conv1x1_reorder_ns: float = Field(default=0.0, ge=0, le=1e6)
    onednn_reorder_ns: float = Field(default=0.0, ge=0, le=1e6)
    onednn_conv_us: float = Field(default=0.0, ge=0, le=1e6)
    onednn_tail_reorder_ns: float = Field(default=0.0, ge=0, le=1e6)
    cross_core_ns_per_kib: float = Field(default=0.0, ge=0, le=1e6)
    parallel: dict[EfficiencyClass, ParallelFigures] = Field(default_factory=dict)
    page_fault_us: float = Field(default=0.0, ge=0, le=1e4)
    view_us: float = Field(default=0.0, ge=0, le=1e6)
    strided_norm_ns: float = Field(default=0.0, ge=0, le=1e6)
    strided_norm_output_ns: float = Field(default=0.0, ge=0, le=1e6)
    mmap_threshold_mb: float = Field(default=32.0, gt=0, le=1e6)
    op_ns: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Annotated[float, Field(ge=0, le=1e6)]] = Field(
        default_factory=dict)
    threads_per_core: int = Field(default=1, ge=1, le=8)
    smt_yield: float = Field(default=0.0, ge=0, le=1)
    detect: CpuId | None = None


def smt_capacity(cpu: Cpu, threads: int | None = None) -> float:
    """How many cores' worth of throughput ``threads`` threads get from ``cpu``: one per core used, plus
    ``smt_yield`` per thread on a sibling of a busy core; threads beyond ``cores x threads_per_core`` add nothing
    (they time-share). Without SMT, min(threads, cores). The default is what a profile's peaks are for: every core,
    and SMT siblings up to ``cpu.threads`` (so a profile as run on N threads, :func:`threaded`, is consistent)."""
    n = min(threads or max(cpu.threads or cpu.cores, cpu.cores), cpu.cores * cpu.threads_per_core)
    used = min(n, cpu.cores)
    return used + cpu.smt_yield * (n - used)


class Gpu(_Model):
    """A GPU's parallel structure: ``sms``, its streaming multiprocessors (AMD: compute units), the number of
    thread blocks of a GEMM that run at once (one per SM), which sets GEMM wave quantization
    (latency/shape.py). ``fp32_lanes_per_sm``: an NVIDIA SM's FP32 lanes (the whitepaper's "FP32 cores" per SM), which
    with the FP32 peak gives the SM clock, and with it the instruction issue rate that bounds PyTorch's depthwise
    convolution kernel (latency/depthwise.py); None: that bound is not priced."""

    sms: int = Field(ge=1, le=100_000)
    fp32_lanes_per_sm: int | None = Field(default=None, ge=1, le=1024)


class OpEfficiency(_Model):
    """A per-op-class override of the compute and/or memory efficiency factor."""

    compute: Fraction | None = None
    memory: Fraction | None = None


class Efficiency(_Model):
    """Fractions of peak that well-tuned kernels attain (0 < e <= 1).

    ``compute`` defaults to 0.9 on a GPU profile with ``gpu.sms`` (tile and wave quantization priced apart), else
    0.75; ``memory`` defaults from the memory type (0.85 for HBM, 0.80 otherwise); ``per_op`` overrides
    either factor for one op class (``conv``: dense and grouped convolutions, else ``gemm``'s entry applies).
    ``vector_gemm``: what a large GEMM attains of the vector unit's peak where a GEMM-like op (gemm, conv,
    attention) runs there for want of a matrix rate in its dtype (a GPU's FP32 GEMMs on the CUDA cores); None:
    ``compute``. Priced where the unit is chosen (``latency.roofline.unit_for``), as a ratio to ``compute``.
    """

    compute: Fraction | None = None
    vector_gemm: Fraction | None = None
    memory: Fraction | None = None
    per_op: dict[EfficiencyClass, OpEfficiency] = Field(default_factory=dict)


class FittedParameter(_Model):
    """One fitted factor: its value, the base profile's value, the bounds and whether the fit ended on one."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=True)  # an unbounded fit has an infinite bound

    value: float = Field(allow_inf_nan=False)
    base: float = Field(allow_inf_nan=False)
    lower: float
    upper: float
    at_bound: Literal["lower", "upper"] | None = None
    latency_share: float = Field(ge=0, le=1, description="share of the predicted latency of the ops it governs")


class Calibration(_Model):
    """What a fitted profile was fitted on (``costmodel calibrate``); see docs/calibration.md."""

    measurements: str = Field(min_length=1, description="file name of the measurements")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    devices: list[str] = Field(min_length=1, description="device column values, else the base profile's name")
    models: int = Field(gt=0, description="number of measured models the fit used")
    date: str = Field(min_length=1, description="ISO date of the fit")
    base_profile: str = Field(min_length=1, description="key of the profile the factors were fitted on")
    applied_to: str | None = Field(default=None, description="key of the profile whose peaks carry the factors")
    dtype: str = Field(min_length=1, description="the measurements' dtype(s), comma-separated")
    fusion: Fusion
    prior_weight: float = Field(ge=0)
    residual_rms: float = Field(ge=0, description="RMS of log(predicted / measured latency) over the models")
    parameters: dict[str, FittedParameter]
    carry: Carry | None = Field(default=None, description="with applied_to: what the transfer carried (level, shape "
                                "or all: costmodel.calibration.fit.carried)")


class HardwareProfile(_Model):
    """One device: identity, peak rates, memory system, caches, overheads, efficiencies and sources."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    kind: DeviceKind
    description: str = ""
    peak: Peak
    memory: Memory
    caches: Caches = Field(default_factory=Caches)
    cpu: Cpu | None = None
    gpu: Gpu | None = None
    launch_overhead_us: float = Field(ge=0, description="fixed device-side cost per kernel (CPU: per-op dispatch)")
    host_overhead_us: float | None = Field(default=None, ge=0, description=(
        "host time to issue one op to an accelerator in eager PyTorch (dispatch + launch call); it overlaps "
        "the device's work. None/0: no separate host stream (CPUs)"))
    efficiency: Efficiency = Field(default_factory=Efficiency)
    sources: dict[str, Annotated[str, Field(min_length=1)]]
    calibration: Calibration | None = None
    _file_stem: str | None = PrivateAttr(default=None)  # set by load_profile_file
    _source: str | None = PrivateAttr(default=None)  # the file it was loaded from (set by load_profile_file)

    @property
    def source(self) -> str | None:
        """The file the profile was loaded from (None when built in memory): error messages name it."""
        return self._source

    @property
    def key(self) -> str:
        """A short identifier: the stem of the file it was loaded from (``a100_80gb``), else its name."""
        return self._file_stem or self.name

    @model_validator(mode="after")
    def _check(self) -> HardwareProfile:
        if self.efficiency.compute is None:
            tiled = self.gpu is not None
            default = TILED_GPU_COMPUTE_EFFICIENCY if tiled else DEFAULT_COMPUTE_EFFICIENCY
            self.efficiency = self.efficiency.model_copy(update={"compute": default})
        if self.efficiency.memory is None:
            default = HBM_MEMORY_EFFICIENCY if self.memory.is_hbm else OTHER_MEMORY_EFFICIENCY
            self.efficiency = self.efficiency.model_copy(update={"memory": default})
        fp32 = self.peak.vector.get(Dtype.FP32)
        if self.cpu is not None and fp32 is not None:
            capacity = smt_capacity(self.cpu)
            computed = capacity * self.cpu.flop_per_cycle_fp32 * self.cpu.clock_ghz / 1000
            if abs(fp32 / computed - 1) > 0.02:
                smt = "" if capacity == self.cpu.cores else f" (SMT: {capacity:g} cores' worth at cpu.threads)"
                raise ValueError(f"peak.vector.fp32 {fp32:g} TFLOP/s disagrees with cpu: cores{smt} x "
                                 f"flop_per_cycle_fp32 x clock_ghz = {computed:.4g} TFLOP/s")
        required = [f"peak.{unit}.{dtype}" for unit in UNITS for dtype in getattr(self.peak, unit)]
        required.append("memory.bandwidth_gbs")
        if self.gpu is not None:
            required.append("gpu.sms")
            if self.gpu.fp32_lanes_per_sm is not None:
                required.append("gpu.fp32_lanes_per_sm")
        missing = [path for path in required if path not in self.sources]
        if missing:
            raise ValueError(f"figure(s) without a 'sources' entry: {', '.join(missing)}")
        figures = set(_leaf_paths(self.model_dump(exclude={"sources", "calibration"})))
        unknown = sorted(set(self.sources) - figures)
        if unknown:
            raise ValueError(f"'sources' key(s) naming no figure of this profile: {', '.join(unknown)}")
        return self


def _leaf_paths(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the non-None leaves of a nested dict, and of its non-empty tables under ``cpu`` (one source
    may cover a table of figures measured together, such as ``cpu.dispatch_us``)."""
    paths = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            if value and prefix == "cpu.":
                paths.append(path)
            paths.extend(_leaf_paths(value, path + "."))
        elif value is not None:
            paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------- loading


def _key(name: str) -> str:
    """Lookup key: case-insensitive, with runs of spaces, '-' and '_' treated alike."""
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def _format_validation_error(path: Path, err: ValidationError) -> str:
    problem = first_problem(err)
    where = ".".join((*problem.path, problem.field or ""))
    return f"invalid hardware profile {path}: {where}: {problem.message}" if where else \
        f"invalid hardware profile {path}: {problem.message}"


# Profiles loaded in this process, by file and its modification stamp: each file is validated once.
_LOADED: dict[tuple[Path, int, int], HardwareProfile] = {}


def _stamp(path: Path) -> tuple[Path, int, int]:
    stat = path.stat()
    return path.resolve(), stat.st_mtime_ns, stat.st_size


def _read_yaml(path: Path) -> Any:
    """The profile file's data, read by the one safe, bounded YAML reader (costmodel.yamlio)."""
    try:
        return load_yaml(path, "hardware profile")
    except YamlError as e:
        raise HardwareError(f"hardware profile {path}: {e}") from None


def load_profile_file(path: str | Path) -> HardwareProfile:
    """Parse and validate one profile YAML file (once per process while the file is unchanged); any problem is a
    :class:`HardwareError`. The profile returned is shared: copy it (``model_copy``) to change it."""
    path = Path(path)
    try:
        stamp = _stamp(path)
    except OSError as e:
        raise HardwareError(f"cannot read hardware profile {path}: {e.strerror or e}") from None
    cached = _LOADED.get(stamp)
    if cached is not None and cached.key == path.stem:
        return cached
    profile = _validate_file(path)
    _LOADED[stamp] = profile
    return profile


def _validate_file(path: Path) -> HardwareProfile:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise HardwareError(f"hardware profile {path}: expected a mapping at top level, got {type(data).__name__}")
    try:
        profile = HardwareProfile.model_validate(data)
    except ValidationError as e:
        raise HardwareError(one_line(_format_validation_error(path, e))) from None
    profile._file_stem = path.stem
    profile._source = str(path)
    return profile


def search_dirs() -> list[Path]:
    """Folders searched for profiles: those in ``COSTMODEL_HW_PATH`` first, then the shipped folder."""
    extra = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return [*extra, SHIPPED_DIR]


def _profile_files() -> list[Path]:
    files: list[Path] = []
    for folder in search_dirs():
        if folder.is_dir():
            files.extend(sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    return files


def _loadable(paths: list[Path], broken: list[HardwareError] | None = None) -> list[tuple[Path, HardwareProfile]]:
    """The profiles that load (a broken file on ``COSTMODEL_HW_PATH`` must not break every other one); the errors of
    those that do not are added to ``broken``."""
    good = []
    for path in paths:
        try:
            good.append((path, load_profile_file(path)))
        except HardwareError as exc:
            if broken is not None:
                broken.append(exc)
    return good


_INDEXES: dict[tuple[tuple[Path, int, int], ...], dict[str, tuple[str, Path]]] = {}


def _labels(path: Path) -> list[str]:
    """A profile file's stem, name and aliases, read from its YAML without validating it (a file that does not
    hold them gives its stem only; loading it says what is wrong)."""
    try:
        data = _read_yaml(path)
    except HardwareError:
        return [path.stem]
    if not isinstance(data, dict):
        return [path.stem]
    name, aliases = data.get("name"), data.get("aliases")
    labels = [path.stem, *([name] if isinstance(name, str) else [])]
    if isinstance(aliases, list):
        labels += [a for a in aliases if isinstance(a, str)]
    return labels


def _index() -> dict[str, tuple[str, Path]]:
    """Lookup key -> (display name, file) for file stems, names and aliases; the first folder wins. Built once
    per process for the same files (no profile is validated to build it)."""
    files = _profile_files()
    stamps = tuple(_stamp(path) for path in files)
    index = _INDEXES.get(stamps)
    if index is None:
        index = {}
        for path in files:
            for label in _labels(path):
                index.setdefault(_key(label), (label, path))
        _INDEXES[stamps] = index
    return index


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text


THIS_CPU = "this-cpu"  # the profile whose cpu.detect matches the machine costmodel runs on


def host_cpu(cpuinfo: str | None = None) -> CpuId | None:
    """The machine's CPU as ``/proc/cpuinfo`` (or the text ``cpuinfo``) describes it; None where there is no such
    file (not Linux) or it lacks the fields (not x86)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    fields: dict[str, str] = {}
    processors = 0
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep:
            continue
        if key == "processor":
            processors += 1
        fields.setdefault(key, value.strip())
    try:
        return CpuId(vendor=fields["vendor_id"], family=int(fields["cpu family"]), model=int(fields["model"]),
                     logical_cpus=processors or None, flags=fields.get("flags", "").split())
    except (KeyError, ValueError, ValidationError):
        return None


def detect_profile(host: CpuId | None = None) -> HardwareProfile:
    """The profile describing this machine's CPU (``this-cpu``): the one whose ``cpu.detect`` matches
    :func:`host_cpu` (vendor, family, model, logical CPUs, flags). An error names what was detected when no
    profile, or more than one, matches: ``this-cpu`` never stands for a machine it is not."""
    host = host if host is not None else host_cpu()
    if host is None:
        raise HardwareError(f"{THIS_CPU}: cannot read this machine's CPU (/proc/cpuinfo); name a profile instead")
    hits = [p for _, p in _loadable(_profile_files()) if p.cpu and p.cpu.detect and p.cpu.detect.matches(host)]
    hits = list({p.key: p for p in hits}.values())  # a COSTMODEL_HW_PATH copy of a shipped file counts once
    seen = f"{host.vendor} family {host.family} model {host.model}, {host.logical_cpus} logical CPUs"
    if not hits:
        raise HardwareError(f"{THIS_CPU}: no profile describes this machine's CPU ({seen}); name the closest "
                            "profile (costmodel hw list), or add a cpu.detect section to one that fits "
                            "(docs/latency-model.md, \"CPUs and threads\")")
    if len(hits) > 1:
        raise HardwareError(f"{THIS_CPU}: several profiles describe this machine's CPU ({seen}): "
                            f"{', '.join(p.key for p in hits)}; name one")
    return hits[0]


def load_profile(name_or_path: str) -> HardwareProfile:
    """A profile by YAML path, or by file stem / name / alias of a known profile (case-insensitive); ``this-cpu``
    is the profile whose ``cpu.detect`` matches this machine (:func:`detect_profile`)."""
    if _key(name_or_path) == _key(THIS_CPU):
        return detect_profile()
    if _looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise HardwareError(f"hardware profile file not found: {path}")
        return load_profile_file(path)
    index = _index()
    hit = index.get(_key(name_or_path))
    if hit is not None:
        return load_profile_file(hit[1])
    known = sorted({path.stem for _, path in index.values()})
    wanted = _key(name_or_path)
    stem = wanted[:-1] if len(wanted) >= 3 else wanted  # a typo in the last character: 'a10O' -> the a10* family
    close = ([k for k in sorted(index) if k.startswith(stem)] + difflib.get_close_matches(wanted, list(index), n=8,
                                                                                           cutoff=0.5)
             if wanted else [])  # an empty name is close to nothing (every key starts with it)
    stems = list(dict.fromkeys(index[c][1].stem for c in close))  # every close match, as the key to pass
    hint = f" (did you mean {' or '.join(stems)}?)" if stems else ""
    raise HardwareError(
        f"unknown hardware profile {name_or_path!r}{hint}. Known profiles: {', '.join(known)} "
        f"(aliases and full names work too; or pass a path to a YAML file)"
    )


def list_profiles(broken: list[HardwareError] | None = None) -> list[HardwareProfile]:
    """Every profile found, one per distinct name (a ``COSTMODEL_HW_PATH`` profile shadows a shipped one); the errors
    of files that do not load are added to ``broken`` (``hw list`` warns of them)."""
    seen: set[str] = set()
    profiles = []
    for _, profile in _loadable(_profile_files(), broken):
        if _key(profile.name) not in seen:
            seen.add(_key(profile.name))
            profiles.append(profile)
    return profiles


# ------------------------------------------------------------------------------------------ queries


def peak_tflops(profile: HardwareProfile, dtype: str, unit: str) -> float:
    """Dense peak of ``unit`` ("vector" or "matrix") for ``dtype``, in TFLOP/s (TOPS for int8)."""
    if unit not in UNITS:
        raise HardwareError(f"unknown unit {unit!r}: expected one of {', '.join(UNITS)}")
    if dtype not in DTYPES:
        raise HardwareError(f"unknown dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    table: dict[str, float] = getattr(profile.peak, unit)
    if dtype not in table:
        have = [f"{u} {d}" for u in UNITS for d in getattr(profile.peak, u)]
        raise HardwareError(
            f"{profile.name} has no {unit} {dtype} peak (its profile lists: {', '.join(have) or 'none'})",
            file=profile.source,
        )
    return table[dtype]


def ridge_point(profile: HardwareProfile, dtype: str, unit: str) -> float:
    """Roofline ridge point in FLOP/byte: peak FLOP/s of ``unit`` for ``dtype`` over memory bandwidth."""
    return peak_tflops(profile, dtype, unit) * 1e12 / (profile.memory.bandwidth_gbs * 1e9)


def cpu_section_missing() -> list[str]:
    """The fields a ``cpu`` section must give (those of :class:`Cpu` without a default), as dotted paths."""
    return [f"cpu.{name}" for name, field in Cpu.model_fields.items() if field.is_required()]


def threaded(profile: HardwareProfile, threads: int | None = None) -> HardwareProfile:
    """``profile`` as run with ``threads`` threads (default: its ``cpu.threads``, else all cores); a profile
    without a ``cpu`` section is returned unchanged.

    Compute peaks scale with the cores' worth of throughput the threads get (:func:`smt_capacity`: min(threads,
    cores) without SMT; each thread on an SMT sibling of a busy core adds ``smt_yield`` of a core), relative to
    what the profile's peaks are for; bandwidth is min(chip bandwidth, physical cores used x bandwidth per core):
    SMT siblings share their core's miss buffers, so a sibling adds no bandwidth. The result's ``cpu`` describes
    the cores used (``cores`` = min(threads, cores), ``threads`` = threads); which ops run in parallel and pay the
    fork/join cost (``cpu.sync_us``) is the latency model's business (``latency.cpu.cpu_kernel``).

    A thread count on a CPU profile without a ``cpu`` section is an error naming the fields it lacks
    (:func:`cpu_section_missing`): the threads would change nothing, and a run priced at every core is not one thread's.
    A thread count on a GPU, NPU or TPU profile is an error too (it was ignored without a word).
    """
    cpu = profile.cpu
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise HardwareError(f"--threads {shown(threads, 40)}: expected a whole number from 1 to {MAX_THREADS:,}")
    if threads is not None and profile.kind != DeviceKind.CPU:  # it was ignored without a word
        raise HardwareError(f"--threads {threads} on {profile.key}: a {profile.kind.upper()} profile has no thread "
                            "count to set (--threads prices a CPU profile's run); leave --threads out",
                            file=profile.source)
    if cpu is None:
        if threads is not None and profile.kind == DeviceKind.CPU:
            raise HardwareError(f"--threads {threads} on {profile.key}: the profile has no cpu section, so its peaks "
                                "are for every core whatever the thread count; add a cpu section with "
                                f"{', '.join(cpu_section_missing())} (docs/latency-model.md, \"CPUs and threads\"), or "
                                "leave --threads out", file=profile.source)
        return profile
    n = threads or cpu.threads or cpu.cores
    cores = min(n, cpu.cores)
    if cores == cpu.cores and n == cpu.threads:
        return profile  # already as run with n threads
    used = smt_capacity(cpu, n) / smt_capacity(cpu)
    peak = Peak(vector={d: v * used for d, v in profile.peak.vector.items()},
                matrix={d: v * used for d, v in profile.peak.matrix.items()})
    streams = cores if cpu.threads_per_core > 1 else n  # without SMT as before: threads x per-core, chip-capped
    memory = profile.memory.model_copy(
        update={"bandwidth_gbs": min(profile.memory.bandwidth_gbs, streams * cpu.bandwidth_per_core_gbs)})
    # the result describes the cores used, so applying threaded() to it again changes nothing
    copy = profile.model_copy(update={
        "peak": peak, "memory": memory, "cpu": cpu.model_copy(update={"cores": cores, "threads": n}),
        "name": f"{profile.name} ({n} thread{'s' if n > 1 else ''})"})
    copy._file_stem = profile._file_stem
    return copy


def efficiency_for(profile: HardwareProfile, op_class: EfficiencyClass | str) -> tuple[float, float]:
    """(compute, memory) efficiency for an op class (or "conv"), after applying any per-op override.

    Each factor comes from ``per_op[op_class]``, else ``per_op`` of its parent ("conv" -> "gemm"), else the
    profile-wide factor.
    """
    eff = profile.efficiency
    key = EfficiencyClass(op_class)
    chain = [eff.per_op.get(k) for k in (key, key.parent) if k is not None]
    compute = next((o.compute for o in chain if o and o.compute is not None), eff.compute)
    memory = next((o.memory for o in chain if o and o.memory is not None), eff.memory)
    assert compute is not None and memory is not None  # filled by HardwareProfile validation
    return compute, memory


def profile_summary(profile: HardwareProfile) -> list[tuple[str, str]]:
    """(label, value) rows describing a profile, for ``costmodel hw show NAME``."""
    rows = [
        ("name", profile.name),
        ("aliases", ", ".join(profile.aliases) or "-"),
        ("kind", profile.kind),
        ("description", profile.description or "-"),
    ]
    for unit in UNITS:
        table = getattr(profile.peak, unit)
        for dtype in DTYPES:
            if dtype in table:
                rows.append((f"peak {unit} {dtype}", f"{table[dtype]:g} {'TOPS' if dtype == 'int8' else 'TFLOP/s'}"))
    mem = profile.memory
    rows += [("memory", f"{mem.capacity_gb:g} GB {mem.type}"), ("bandwidth", f"{mem.bandwidth_gbs:g} GB/s")]
    for unit, dtype in (("vector", "fp32"), ("matrix", "fp16")):
        if dtype in getattr(profile.peak, unit):
            value = f"{ridge_point(profile, dtype, unit):.1f} FLOP/byte"
        else:
            value = f"n/a (no {unit} {dtype} peak)"
        rows.append((f"ridge point {unit} {dtype}", value))
    caches = profile.caches
    if caches.l2_mb is not None:
        rows.append(("L2 cache", f"{caches.l2_mb:g} MB"))
    if caches.llc_mb is not None:
        rows.append(("last-level cache", f"{caches.llc_mb:g} MB"))
    if caches.shared_memory_kb is not None:
        rows.append(("shared memory per SM/CU", f"{caches.shared_memory_kb:g} KB"))
    if profile.cpu is not None:
        cpu = profile.cpu
        smt = f" x {cpu.threads_per_core} SMT threads (yield {cpu.smt_yield:g})" if cpu.threads_per_core > 1 else ""
        threads = cpu.threads or cpu.cores
        rows.append(("cpu", f"{cpu.cores} cores{smt}, {cpu.isa}, {cpu.flop_per_cycle_fp32:g} fp32 FLOP/cycle x "
                            f"{cpu.clock_ghz:g} GHz, {cpu.bandwidth_per_core_gbs:g} GB/s per core, "
                            f"{threads} thread{'s' if threads != 1 else ''} by default, fork/join {cpu.sync_us:g} µs"))
        if cpu.dispatch_us:
            rows.append(("cpu dispatch", ", ".join(f"{k.value} +{v:g} µs" for k, v in cpu.dispatch_us.items())
                         + " per op on top of the launch overhead"))
        if cpu.depthwise_ns:
            rows.append(("cpu depthwise", f"+{cpu.depthwise_ns:g} ns per output element on one core"))
        if cpu.parallel_efficiency != 1:
            rows.append(("cpu parallel efficiency", f"{cpu.parallel_efficiency:g} of the threads' capacity"))
        if cpu.conv1x1_threaded_us is not None or cpu.conv1x1_threaded_speedup is not None:
            extra = "fork/join" if cpu.conv1x1_threaded_us is None else f"+{cpu.conv1x1_threaded_us:g} µs per call"
            speed = ("as other parallel kernels" if cpu.conv1x1_threaded_speedup is None
                     else f"work {cpu.conv1x1_threaded_speedup:g}x one thread's")
            rows.append(("cpu 1x1 conv on oneDNN when threaded", f"{extra}, {speed}"))
    if profile.gpu is not None:
        lanes = profile.gpu.fp32_lanes_per_sm
        rows.append(("streaming multiprocessors", f"{profile.gpu.sms}" + (f", {lanes} FP32 lanes each" if lanes
                                                                          else "")))
    rows.append(("launch overhead", f"{profile.launch_overhead_us:g} µs per kernel"))
    if profile.host_overhead_us:
        rows.append(("host dispatch", f"{profile.host_overhead_us:g} µs per op (overlaps device time)"))
    eff = profile.efficiency
    rows.append(("efficiency", f"compute {eff.compute:g}, memory {eff.memory:g}"))
    if eff.vector_gemm is not None:
        rows.append(("efficiency vector gemm", f"compute {eff.vector_gemm:g} (GEMMs on the vector unit)"))
    for op_class, override in eff.per_op.items():
        parts = [f"{k} {v:g}" for k, v in (("compute", override.compute), ("memory", override.memory)) if v]
        rows.append((f"efficiency {op_class}", ", ".join(parts)))
    if profile.calibration is not None:
        cal = profile.calibration
        onto = (f", applied to {cal.applied_to}" + (f" ({cal.carry} carried)" if cal.carry else "")
                if cal.applied_to else "")
        rows.append(("calibrated", f"on {cal.models} models of {cal.measurements} ({', '.join(cal.devices)}), "
                                   f"{cal.dtype}, fusion {cal.fusion}, {cal.date}; base {cal.base_profile}{onto}; "
                                   f"residual RMS {cal.residual_rms:.3f}"))
    return rows
