"""Model metadata of the Open Inference Protocol (`GET /v2/models/{name}[/versions/{v}]`).

`parse_metadata` reads the server's answer into a `ModelMetadata`: the declared input and output
tensors with their names, datatypes and shapes (-1 marks a variable dimension). At most
`MAX_TENSORS` (256) tensors per side are kept and names are cut to 128 characters, so one entry
costs a few kB whatever the server sends. Fetching and caching live outside the decoders
(`sidecar.model_metadata`); decoders only see a `MetadataLookup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sidecar.decoders.payload import parse_json

MAX_TENSORS = 256
MAX_NAME_CHARS = 128


@dataclass(frozen=True, slots=True)
class TensorMetadata:
    """One declared tensor: name, datatype and shape (-1 for a variable dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def batched(self) -> bool:
        """Whether the first dimension is variable, i.e. the batch (rows) dimension."""
        return not self.shape or self.shape[0] < 0


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """A model's declared inputs and outputs, in the server's order."""

    name: str
    inputs: tuple[TensorMetadata, ...] = ()
    outputs: tuple[TensorMetadata, ...] = ()

    def input(self, name: str) -> TensorMetadata | None:
        """The declared input called `name`, if any."""
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> TensorMetadata | None:
        """The declared output called `name`, if any."""
        return next((t for t in self.outputs if t.name == name), None)


class MetadataLookup(Protocol):
    """Where decoders find a model's metadata; None when it is unknown or could not be had."""

    def get(self, model: str, version: str | None) -> ModelMetadata | None: ...


def parse_metadata(body: bytes) -> ModelMetadata:
    """Parse a model metadata response; ValueError (a `DecodeError`) when it is not one."""
    parsed = parse_json(body)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("name"), str):
        raise ValueError("model metadata is not an object with a string name")
    return ModelMetadata(
        name=parsed["name"][:MAX_NAME_CHARS],
        inputs=_tensors(parsed.get("inputs")),
        outputs=_tensors(parsed.get("outputs")),
    )


def _tensors(specs: object) -> tuple[TensorMetadata, ...]:
    if not isinstance(specs, list):
        return ()
    found = []
    for spec in specs[:MAX_TENSORS]:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            continue
        shape = spec.get("shape")
        dims = (
            tuple(shape) if isinstance(shape, list) and all(type(d) is int for d in shape) else ()
        )
        datatype = spec.get("datatype")
        found.append(
            TensorMetadata(
                spec["name"][:MAX_NAME_CHARS],
                datatype.upper() if isinstance(datatype, str) else "",
                dims,
            )
        )
    return tuple(found)
