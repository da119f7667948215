"""Dense layers: linear (nn.Linear over the last axis) and matmul/bmm (batched, broadcasting)."""

from __future__ import annotations

from collections.abc import Sequence

from ..vocab import OpClass
from .base import (
    Attrs,
    NoAttrs,
    OpCost,
    OpError,
    PositiveInt,
    Shape,
    Size,
    broadcast_shapes,
    expect_min_rank,
    numel,
    register,
)


class LinearAttrs(Attrs):
    out: PositiveInt
    bias: bool = True
    shared: bool = False  # the weights are another linear's (tied weights): no parameters of its own


def linear_macs(out_elements: Size, in_features: Size) -> Size:
    """MACs of a linear layer: ``in_features`` per output element."""
    return out_elements * in_features  # type: ignore[no-any-return]  # numpy arrays in the designer


def linear_params(in_features: Size, out_features: Size, bias: bool) -> Size:
    """Parameters of a linear layer: the weight matrix, plus ``out_features`` if it has a bias."""
    return in_features * out_features + (out_features if bias else 0 * out_features)  # type: ignore[no-any-return]


@register("linear", LinearAttrs, torch_counted=True)
def linear(inputs: Sequence[Shape], a: LinearAttrs) -> OpCost:
    """x @ W.T (+ b) over the last axis of [..., in] -> [..., out]; MACs = rows * in * out."""
    (x,) = inputs
    expect_min_rank(x, 2, "linear input")
    in_features = x[-1]
    out_shape = (*x[:-1], a.out)
    out_elems = numel(out_shape)
    macs = linear_macs(out_elems, in_features)
    return OpCost(
        outputs=(out_shape,),
        params=0 if a.shared else linear_params(in_features, a.out, a.bias),
        macs=macs,
        flops=2 * macs + (out_elems if a.bias else 0),
        gemm_outputs=out_elems,
        op_class=OpClass.GEMM,
    )


@register("matmul", NoAttrs, inputs=2, aliases=("bmm",), torch_counted=True)
def matmul(inputs: Sequence[Shape], a: NoAttrs) -> OpCost:
    """[..., M, K] @ [..., K, N] -> [..., M, N], leading dims broadcast; MACs = batch * M * K * N."""
    x, y = inputs
    expect_min_rank(x, 2, "matmul input 0")
    expect_min_rank(y, 2, "matmul input 1")
    (m, k), (k2, n) = x[-2:], y[-2:]
    if k != k2:
        raise OpError(f"matmul inner dims differ: {list(x)} @ {list(y)} ({k} vs {k2})")
    try:
        batch = broadcast_shapes([x[:-2], y[:-2]])
    except OpError:
        raise OpError(f"matmul batch dims do not broadcast: {list(x)} @ {list(y)}") from None
    out_shape = (*batch, m, n)
    macs = numel(batch) * m * k * n
    return OpCost(
        outputs=(out_shape,),
        macs=macs,
        flops=2 * macs,
        gemm_outputs=numel(out_shape),
        op_class=OpClass.GEMM,
    )


class EinsumAttrs(Attrs):
    # torch.einsum("bhqd,bhkd->bhqk", q, k) is terms [bhqd, bhkd], result bhqk (words, not an expression: a spec
    # reads "a,b->c" as one)
    terms: list[str]
    result: str


def einsum_sizes(inputs: Sequence[Shape], terms: Sequence[str], out: str) -> tuple[dict[str, int], str, Shape]:
    """Each index letter's size, the output term and the output shape of einsum ``terms -> out``."""
    equation = f"{','.join(terms)}->{out}"
    if not all(term.isalpha() and term.isascii() for term in [*terms, out]):
        raise OpError(f"equation {equation!r}: each term is letters only ('ab', 'bc' -> 'ac')", field="terms")
    if len(terms) != len(inputs):
        raise OpError(f"equation {equation!r} has {len(terms)} operand(s), the op has {len(inputs)} input(s)",
                      field="terms")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, inputs, strict=True):
        if len(term) != len(shape):
            raise OpError(f"operand {term!r} of {equation!r} has rank {len(term)}, its input is {list(shape)}",
                          field="terms")
        for letter, size in zip(term, shape, strict=True):
            if sizes.setdefault(letter, size) != size and 1 not in (sizes[letter], size):
                raise OpError(f"index {letter!r} of {equation!r} is {sizes[letter]} and {size}", field="terms")
            sizes[letter] = max(sizes[letter], size)
    if len(set(out)) != len(out) or set(out) - set(sizes):
        raise OpError(f"output {out!r} of {equation!r} repeats a letter or names one no operand has",
                      field="result")
    return sizes, out, tuple(sizes[letter] for letter in out)


@register("einsum", EinsumAttrs, inputs=(1, 2), torch_counted=True)
def einsum(inputs: Sequence[Shape], a: EinsumAttrs) -> OpCost:
    """``torch.einsum`` of one or two operands. MACs as fvcore counts them (numpy's einsum_path cost / 2):
    ``P`` = the product of every index size when an index is summed, else ``floor(P / 2)``. FLOPs: ``2P`` with a
    summed index for two operands (a multiply and an add per index combination), ``P`` otherwise; activations:
    output elements (fvcore counts einsum like a matmul)."""
    sizes, out, out_shape = einsum_sizes(inputs, a.terms, a.result)
    product = numel(list(sizes.values()))
    summed = bool(set(sizes) - set(out))
    macs = product if summed else product // 2
    flops = (2 * product if summed else product) if len(inputs) == 2 else (product if summed else 0)
    return OpCost(outputs=(out_shape,), macs=macs, flops=flops, gemm_outputs=numel(out_shape),
                  op_class=OpClass.GEMM if len(inputs) == 2 and summed else OpClass.ELEMENTWISE)
