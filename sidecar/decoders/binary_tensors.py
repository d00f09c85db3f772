"""The binary tensor data extension of the Open Inference Protocol (Triton, KServe v2 clients).

A body is a JSON object of `Inference-Header-Content-Length` bytes followed by the raw data of
every tensor whose `parameters.binary_data_size` is set, in the order the tensors are listed.
Raw data is little-endian, row-major, without padding: BOOL one byte (0 or 1), the integer and
float types their native width, BF16 the upper 16 bits of an IEEE float32, and BYTES a 4-byte
little-endian length before each element. `attach_binary` replaces each such tensor's `data`
with `BinaryData` (float64 for numbers, cells for BOOL and BYTES), so the JSON decoder reads
both forms the same way.

Bounds: at most `max_values` elements per body (by default half of `max_bytes`, the most a JSON
body of the same cap can hold as `0,0,...`), checked from the shapes before any conversion;
numbers cost 8 bytes each as float64. Every tensor's size must equal its shape times its
datatype's width (BYTES: its elements fill it exactly), and the sizes must add up to the bytes
after the header. Reasons raised: `binary_header_length_invalid`, `binary_header_invalid`,
`binary_size_invalid`, `binary_size_mismatch`, `binary_bytes_invalid`,
`bad_datatype`, `bad_shape`, `too_large`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sidecar.decoders.arrays import FloatArray
from sidecar.decoders.payload import parse_json
from sidecar.records import DecodeError, Value

HEADER_LENGTH = "inference-header-content-length"
"""The HTTP header (lower case) giving the size of the JSON part of a binary body."""

NUMPY_TYPES: dict[str, str] = {
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "BF16": "<u2",  # widened to float32 by a 16-bit shift, see `_numbers`
    "FP32": "<f4",
    "FP64": "<f8",
    "BOOL": "<u1",
}
"""Fixed-width datatypes and the numpy dtype of their raw little-endian elements."""

_LENGTH = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class BinaryData:
    """A tensor's data read from the binary part: flat, row-major, `size` elements."""

    values: FloatArray | list[Value]


def header_length(headers: Sequence[tuple[str, str]]) -> str | None:
    """The raw `Inference-Header-Content-Length` value among captured headers, if present."""
    for key, value in headers:
        if key.lower() == HEADER_LENGTH:
            return value
    return None


def split_body(body: bytes, length: str) -> tuple[bytes, bytes]:
    """The JSON header and the binary part of a body, split at the header's stated length."""
    text = length.strip()
    # ASCII digits only (str.isdigit also takes "²"), and few enough for int() to parse.
    if not (text.isascii() and text.isdigit() and len(text) <= 20) or int(text) > len(body):
        raise DecodeError(
            "binary_header_length_invalid",
            f"{HEADER_LENGTH}={length[:20]!r} for a body of {len(body)} bytes",
        )
    cut = int(text)
    return body[:cut], body[cut:]


def parse_binary_body(body: bytes, length: str, key: str, max_values: int) -> object:
    """A body with binary tensors as parsed JSON whose `key` tensors carry `BinaryData`."""
    head, tail = split_body(body, length)
    try:
        parsed = parse_json(head)
    except DecodeError as error:
        raise DecodeError(
            "binary_header_invalid", f"first {len(head)} bytes: {error.reason}: {error.detail}"
        ) from None
    if isinstance(parsed, dict) and isinstance(parsed.get(key), list):
        attach_binary(parsed[key], tail, max_values)
    elif tail:
        raise DecodeError(
            "binary_size_mismatch", f"{len(tail)} bytes follow a header without {key}"
        )
    return parsed


def attach_binary(specs: list[object], tail: bytes, max_values: int) -> None:
    """Replace the `data` of every tensor with a `binary_data_size` by its decoded elements."""
    offset = 0
    budget = max_values
    for spec in specs:
        if not isinstance(spec, dict):
            continue
        size = _binary_size(spec)
        if size is None:
            continue
        name = str(spec.get("name"))[:40]
        if offset + size > len(tail):
            raise DecodeError(
                "binary_size_mismatch",
                f"tensor {name!r} needs {size} bytes at offset {offset}, {len(tail)} follow",
            )
        shape = _shape(spec.get("shape"), name)
        count = math.prod(shape)
        if count > budget:
            raise DecodeError(
                "too_large", f"tensor {name!r} has {count} elements, cap {max_values}"
            )
        budget -= count
        datatype = str(spec.get("datatype", "")).upper()
        spec["data"] = BinaryData(
            decode_elements(datatype, count, tail[offset : offset + size], name)
        )
        offset += size
    if offset != len(tail):
        raise DecodeError(
            "binary_size_mismatch", f"tensors declare {offset} bytes, {len(tail)} follow the header"
        )


def _binary_size(spec: dict[str, object]) -> int | None:
    parameters = spec.get("parameters")
    if not isinstance(parameters, dict):
        return None
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if type(size) is not int or size < 0:
        raise DecodeError("binary_size_invalid", f"binary_data_size={str(size)[:20]}")
    return size


def _shape(shape: object, name: str) -> list[int]:
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise DecodeError("bad_shape", f"tensor {name!r} has shape {str(shape)[:40]}")
    return shape


def decode_elements(
    datatype: str, count: int, raw: bytes, name: str = ""
) -> FloatArray | list[Value]:
    """`count` elements of `datatype` from raw little-endian bytes: float64, or cells."""
    if datatype == "BYTES":
        return _strings(raw, count, name)
    dtype = NUMPY_TYPES.get(datatype)
    if dtype is None:
        raise DecodeError("bad_datatype", f"tensor {name!r} has datatype {datatype[:20]!r}")
    width = np.dtype(dtype).itemsize
    if len(raw) != count * width:
        raise DecodeError(
            "binary_size_mismatch",
            f"tensor {name!r}: {count} {datatype} elements need {count * width} bytes,"
            f" got {len(raw)}",
        )
    elements = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        return np.where(elements != 0, "true", "false").tolist()  # type: ignore[no-any-return]
    return _numbers(elements, datatype)


def _numbers(elements: npt.NDArray[Any], datatype: str) -> FloatArray:
    if datatype == "BF16":
        # bfloat16 is the top half of a float32: shift the 16 bits into place and reinterpret.
        elements = (elements.astype(np.uint32) << 16).view(np.float32)
    return elements.astype(np.float64)


def _strings(raw: bytes, count: int, name: str) -> list[Value]:
    """BYTES elements: a 4-byte little-endian length, then that many bytes, `count` times."""
    cells: list[Value] = []
    offset, end = 0, len(raw)
    unpack = _LENGTH.unpack_from
    for _ in range(count):
        if offset + 4 > end:
            raise DecodeError(
                "binary_bytes_invalid", f"tensor {name!r} ends inside a length prefix"
            )
        (length,) = unpack(raw, offset)
        offset += 4
        if offset + length > end:
            raise DecodeError(
                "binary_bytes_invalid",
                f"tensor {name!r}: element of {length} bytes runs past the end",
            )
        try:
            cells.append(raw[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError:
            cells.append(None)  # raw bytes (an image, say) are no category: counted as missing
        offset += length
    if offset != end:
        raise DecodeError(
            "binary_bytes_invalid",
            f"tensor {name!r}: {end - offset} bytes left after {count} elements",
        )
    return cells
