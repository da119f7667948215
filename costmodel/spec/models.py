"""The pydantic models of an architecture spec: what :mod:`costmodel.spec.schema`'s fast path falls back to for a
value it does not take as it is (to convert it or to report the error, in pydantic's words) and what ``costmodel
schema`` prints (the JSON schema). Built on first need: a spec that validates on the fast path never imports
pydantic.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..vocab import Dtype
from .names import Number, check_name


@cache
def pydantic_models() -> dict[str, Any]:
    """The models by name (``Spec``, ``NodeSpec``, ``BlockDef``, ``Metadata``), as the spec schema was written in
    pydantic (same fields, defaults, validators and docstrings: the JSON schema's descriptions)."""
    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

    class Metadata(BaseModel):
        """Where the architecture comes from and how it scores (plots read ``top1``)."""

        model_config = ConfigDict(extra="allow")

        paper: str | None = None
        source: str | None = Field(None, description="reference implementation, e.g. 'timm convnext_tiny'")
        url: str | None = None
        timm_name: str | None = Field(None, description="timm model name, to look up published figures")
        top1: float | None = Field(None, description="published ImageNet-1k top-1 accuracy, percent")
        top5: float | None = None


    class NodeSpec(BaseModel):
        """One node: an op (``op:``) or a block call (``block:``). Other keys are the op's attributes or the
        block's arguments, each a number, a word or an expression."""

        model_config = ConfigDict(extra="allow")

        name: str | None = Field(None, description="name in its scope; default: the op or block name")
        op: str | None = Field(None, description="a registered op (`costmodel ops` lists them)")
        block: str | None = Field(None, description="a block defined under `blocks:`")
        inputs: str | list[str] | None = Field(
            None, description="earlier node names in this scope, `name:k` for output k; default: previous node"
        )
        repeat: Number | None = Field(None, description="repeat this node N times in sequence; `i` is the index")
        parallel: bool = Field(
            False, description="with repeat: every repeat takes the node's inputs (parallel branches, `name.*` lists "
                               "their outputs) instead of the previous repeat's output")
        when: bool | str | None = Field(
            None, description="condition; when false the node is skipped and passes its first input through"
        )
        overrides: dict[int, dict[str, Any]] = Field(
            default_factory=dict, description="per-repeat attribute overrides, keyed by index (-1 = last)"
        )
        dtype: Dtype | None = Field(
            None, description="element type of this node's op (of every op of a block call, unless one of them sets "
                              "its own): explicit mixed precision inside a model of another dtype")

        @field_validator("name")
        @classmethod
        def _valid_name(cls, name: str | None) -> str | None:
            return None if name is None else check_name(name)

        @model_validator(mode="after")
        def _one_kind(self) -> NodeSpec:
            if (self.op is None) == (self.block is None):
                raise ValueError("a node needs exactly one of 'op' or 'block'")
            return self

        @property
        def attributes(self) -> dict[str, Any]:
            """The op attributes or block arguments: every key that is not a node key."""
            return dict(self.model_extra or {})


    class BlockDef(BaseModel):
        """A reusable, parametrized sub-graph."""

        model_config = ConfigDict(extra="forbid")

        description: str = ""
        params: dict[str, Any] = Field(default_factory=dict, description="parameter -> default (null: required)")
        vars: dict[str, Any] = Field(default_factory=dict, description="derived values, evaluated in order")
        inputs: list[str] = Field(default_factory=lambda: ["x"], description="names of the block's input tensors")
        outputs: list[str] | None = Field(None, description="node names whose outputs leave the block")
        nodes: list[NodeSpec] = Field(min_length=1)

        @field_validator("inputs")
        @classmethod
        def _valid_inputs(cls, names: list[str]) -> list[str]:
            return [check_name(name) for name in names]


    class Spec(BaseModel):
        """An architecture: inputs, variables, blocks and the top-level node list."""

        model_config = ConfigDict(extra="forbid")

        name: str
        description: str = ""
        metadata: Metadata = Field(default_factory=lambda: Metadata.model_validate({}))
        inputs: dict[str, list[Number]] = Field(
            min_length=1, description="input name -> per-sample shape: [C, H, W] for images, [L, D] for sequences"
        )
        batch: int = Field(1, ge=1)
        dtype: Dtype = Dtype.FP32
        vars: dict[str, Any] = Field(default_factory=dict, description="variables, evaluated in order")
        defaults: dict[str, dict[str, Any]] = Field(
            default_factory=dict, description="op name -> default attributes, e.g. {conv2d: {bias: false}}"
        )
        blocks: dict[str, BlockDef] = Field(default_factory=dict)
        nodes: list[NodeSpec] = Field(min_length=1)
        outputs: list[str] | None = None

        @field_validator("inputs")
        @classmethod
        def _valid_inputs(cls, inputs: dict[str, list[Number]]) -> dict[str, list[Number]]:
            for name in inputs:
                check_name(name)
            return inputs

    return {"Spec": Spec, "NodeSpec": NodeSpec, "BlockDef": BlockDef, "Metadata": Metadata}
