"""The binary tensor data extension, from Triton's and KServe's description of it.

Bodies are built here the way the extension document describes them: a JSON header whose byte
length is the `Inference-Header-Content-Length` header, then each binary tensor's raw bytes
(little-endian, row-major, no padding; BOOL one byte; BYTES a 4-byte little-endian length per
element) in the order the tensors are listed, each sized by its `binary_data_size` parameter.
"""

from __future__ import annotations

import gzip
import json
import struct
from typing import Any

import numpy as np
import pytest

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.binary_tensors import decode_elements
from sidecar.records import Captured, DecodeError

PATH = "/v2/models/clf/infer"
OPTIONS = DecodeOptions()

FIXED = {
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


def raw_tensor(
    name: str, datatype: str, shape: list[int], raw: bytes
) -> tuple[dict[str, Any], bytes]:
    """A tensor header sent as binary data, and its bytes."""
    spec = {
        "name": name,
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": len(raw)},
    }
    return spec, raw


def bytes_elements(*items: bytes) -> bytes:
    """BYTES elements as the extension lays them out: a uint32 length before each."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def body(
    key: str, *tensors: tuple[dict[str, Any], bytes] | dict[str, Any], **extra: Any
) -> tuple[bytes, str]:
    """A binary body (JSON header + tensor bytes) and its header-length value."""
    specs = [t[0] if isinstance(t, tuple) else t for t in tensors]
    header = json.dumps({key: specs, **extra}).encode()
    tail = b"".join(t[1] for t in tensors if isinstance(t, tuple))
    return header + tail, str(len(header))


def pair(
    request: tuple[bytes, str] | bytes,
    response: tuple[bytes, str] | bytes = b"",
    path: str = PATH,
    **fields: Any,
) -> Captured:
    """A captured pair; tuples carry the Inference-Header-Content-Length value."""
    request_headers: tuple[tuple[str, str], ...] = ()
    response_headers: tuple[tuple[str, str], ...] = ()
    if isinstance(request, tuple):
        request, length = request
        request_headers = (("inference-header-content-length", length),)
    if isinstance(response, tuple):
        response, length = response
        response_headers = (("inference-header-content-length", length),)
    return Captured(
        request_id="r1",
        method="POST",
        path=path,
        query="",
        status=fields.pop("status", 200),
        request_headers=request_headers,
        request_body=request,
        response_body=response,
        started=1_700_000_000.0,
        duration=0.01,
        response_headers=response_headers,
        **fields,
    )


def reason(captured: Captured, **options: Any) -> str:
    """The decode error reason of a pair that must fail."""
    with pytest.raises(DecodeError) as error:
        decode_pair(captured, OPTIONS, **options)
    return error.value.reason


class TestDatatypes:
    @pytest.mark.parametrize("datatype", sorted(FIXED))
    def test_fixed_width_datatype_matches_numpy(self, datatype: str) -> None:
        """Every fixed-width datatype reads back the values numpy wrote, row-major by shape."""
        dtype = np.dtype(FIXED[datatype])
        values = np.array([[0, 1, 2], [3, 100, 127]], dtype=dtype)
        if dtype.kind in "iu":
            values[1, 2] = np.iinfo(dtype).max
        if dtype.kind == "i":
            values[0, 0] = np.iinfo(dtype).min
        decoded = decode_pair(
            pair(body("inputs", raw_tensor("x", datatype, [2, 3], values.tobytes()))), OPTIONS
        )
        assert decoded.n_rows == 2
        expected = values.astype(np.float64)
        assert decoded.features == {f"x.{j}": expected[:, j].tolist() for j in range(3)}

    def test_fp16_keeps_half_precision_values(self) -> None:
        """FP16 elements decode to the floats they encode, including inf and nan."""
        values = np.array([0.5, -2.25, 65504.0, np.inf, np.nan], dtype="<f2")
        decoded = decode_pair(
            pair(body("inputs", raw_tensor("h", "FP16", [5], values.tobytes()))), OPTIONS
        )
        got = np.array(decoded.features["h"], dtype=np.float64)
        np.testing.assert_array_equal(got, values.astype(np.float64))

    def test_bf16_is_the_upper_half_of_float32(self) -> None:
        """BF16 elements are the top 16 bits of float32: 1.5, -2, 3.140625 and 1e38 round trip."""
        floats = np.array([1.5, -2.0, 3.140625, 1.0e38], dtype="<f4")
        top = (floats.view("<u4") >> 16).astype("<u2")
        decoded = decode_pair(
            pair(body("inputs", raw_tensor("b", "BF16", [4, 1], top.tobytes()))), OPTIONS
        )
        expected = (top.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        assert decoded.features["b"] == expected.tolist()
        assert decoded.features["b"][:3] == [1.5, -2.0, 3.140625]

    def test_bool_bytes_are_categories(self) -> None:
        """BOOL is one byte per element, 1 true and 0 false, decoded as "true"/"false"."""
        decoded = decode_pair(
            pair(body("inputs", raw_tensor("flag", "BOOL", [3], bytes([1, 0, 1])))), OPTIONS
        )
        assert decoded.features == {"flag": ["true", "false", "true"]}

    def test_bytes_elements_are_length_prefixed_strings(self) -> None:
        """BYTES elements carry a 4-byte little-endian length; UTF-8 text stays text, empty
        strings stay empty, and bytes that are not UTF-8 count as missing."""
        raw = bytes_elements(b"red", "grün".encode(), b"", b"\xff\xd8\xff")
        decoded = decode_pair(pair(body("inputs", raw_tensor("s", "BYTES", [2, 2], raw))), OPTIONS)
        assert decoded.features == {"s.0": ["red", ""], "s.1": ["grün", None]}

    def test_decode_elements_refuses_an_unknown_datatype(self) -> None:
        """A datatype outside the protocol's list is bad_datatype."""
        with pytest.raises(DecodeError) as error:
            decode_elements("COMPLEX64", 1, b"\0" * 8, "x")
        assert error.value.reason == "bad_datatype"


class TestLayout:
    def test_binary_and_json_decode_to_the_same_columns(self) -> None:
        """The same tensor sent as JSON and as binary gives identical rows, names and values."""
        values = np.arange(12, dtype="<f4").reshape(4, 3) / 4
        as_json = {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [4, 3], "data": values.ravel().tolist()}
            ]
        }
        json_pair = pair(json.dumps(as_json).encode())
        binary_pair = pair(body("inputs", raw_tensor("x", "FP32", [4, 3], values.tobytes())))
        assert decode_pair(json_pair, OPTIONS) == decode_pair(binary_pair, OPTIONS)

    def test_tensors_are_read_in_order_and_json_tensors_may_be_mixed_in(self) -> None:
        """Binary parts follow the header in tensor order; a JSON tensor between them takes none."""
        decoded = decode_pair(
            pair(
                body(
                    "inputs",
                    raw_tensor("a", "INT32", [2], np.array([1, 2], "<i4").tobytes()),
                    {"name": "b", "datatype": "FP64", "shape": [2], "data": [0.5, 1.5]},
                    raw_tensor("c", "UINT8", [2], bytes([7, 9])),
                )
            ),
            OPTIONS,
        )
        assert decoded.features == {"a": [1.0, 2.0], "b": [0.5, 1.5], "c": [7.0, 9.0]}

    def test_binary_outputs_become_predictions(self) -> None:
        """Outputs requested as binary (`binary_data`) decode from the response's binary part."""
        request = {
            "inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 1], "data": [1.0, 2.0]}],
            "outputs": [{"name": "proba", "parameters": {"binary_data": True}}],
        }
        proba = np.array([[0.2, 0.8], [0.9, 0.1]], dtype="<f4")
        response = body(
            "outputs",
            raw_tensor("proba", "FP32", [2, 2], proba.tobytes()),
            raw_tensor("label", "BYTES", [2], bytes_elements(b"yes", b"no")),
            model_name="clf",
        )
        decoded = decode_pair(pair(json.dumps(request).encode(), response), OPTIONS)
        assert decoded.predictions["prediction"] == ["1", "0"]
        assert decoded.predictions["probability"] == pytest.approx([0.8, 0.9])
        assert decoded.predictions["label"] == ["yes", "no"]

    def test_shared_memory_tensors_count_rows_but_give_no_columns(self) -> None:
        """Tensors in shared-memory regions have no data in the body: the other tensors still
        decode, their rows count, and no error is raised for a valid protocol feature."""
        shm = {"shared_memory_region": "r0", "shared_memory_byte_size": 8}
        request = body(
            "inputs",
            {"name": "big", "datatype": "FP32", "shape": [2, 1], "parameters": shm},
            raw_tensor("x", "INT8", [2], bytes([1, 2])),
        )
        response = json.dumps(
            {"outputs": [{"name": "y", "datatype": "FP32", "shape": [2], "parameters": shm}]}
        ).encode()
        decoded = decode_pair(pair(request, response), OPTIONS)
        assert decoded.n_rows == 2
        assert decoded.features == {"x": [1.0, 2.0]} and decoded.predictions == {}

    def test_binary_data_output_request_parameter_is_accepted(self) -> None:
        """A request asking for every output in binary (`binary_data_output`) decodes as usual."""
        decoded = decode_pair(
            pair(
                body(
                    "inputs",
                    raw_tensor("x", "FP32", [1], np.array([3.0], "<f4").tobytes()),
                    parameters={"binary_data_output": True},
                )
            ),
            OPTIONS,
        )
        assert decoded.features == {"x": [3.0]}

    def test_compressed_binary_body_is_split_after_decompression(self) -> None:
        """The header length counts uncompressed bytes: a gzip body is inflated, then split."""
        raw, length = body(
            "inputs", raw_tensor("x", "INT16", [2], np.array([5, -5], "<i2").tobytes())
        )
        captured = pair((gzip.compress(raw), length), request_encoding="gzip")
        assert decode_pair(captured, OPTIONS).features == {"x": [5.0, -5.0]}

    def test_a_header_length_equal_to_the_body_is_plain_json(self) -> None:
        """With nothing after the header, the body is an ordinary JSON request."""
        raw = json.dumps(
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
        ).encode()
        assert decode_pair(pair((raw, str(len(raw)))), OPTIONS).features == {"x": [1.0]}

    def test_wide_binary_rows_are_summarised_like_json_rows(self) -> None:
        """Rows wider than max_width get the same five summary columns as JSON rows."""
        values = np.ones((2, 100), dtype="<f8")
        decoded = decode_pair(
            pair(body("inputs", raw_tensor("emb", "FP64", [2, 100], values.tobytes()))), OPTIONS
        )
        assert set(decoded.features) == {f"emb.{s}" for s in ("mean", "std", "min", "max", "l2")}


class TestErrors:
    @pytest.mark.parametrize("length", ["abc", "-1", "10000", "", "²", "9" * 5000])
    def test_bad_header_length(self, length: str) -> None:
        """A header length that is not a byte count within the body is named as such."""
        raw, _ = body("inputs", raw_tensor("x", "UINT8", [1], b"\x01"))
        assert reason(pair((raw, length))) == "binary_header_length_invalid"

    def test_header_length_cutting_the_json(self) -> None:
        """A length that cuts the JSON header short is binary_header_invalid, not invalid_json."""
        raw, length = body("inputs", raw_tensor("x", "UINT8", [1], b"\x01"))
        assert reason(pair((raw, str(int(length) - 3)))) == "binary_header_invalid"

    def test_sizes_that_do_not_add_up_to_the_tail(self) -> None:
        """Bytes left over after every declared tensor is a binary_size_mismatch."""
        raw, length = body("inputs", raw_tensor("x", "UINT8", [1], b"\x01"))
        assert reason(pair((raw + b"\x00", length))) == "binary_size_mismatch"

    def test_tail_shorter_than_declared(self) -> None:
        """A tensor declaring more bytes than follow the header is a binary_size_mismatch."""
        raw, length = body("inputs", raw_tensor("x", "UINT8", [2], b"\x01\x02"))
        assert reason(pair((raw[:-1], length))) == "binary_size_mismatch"

    def test_size_that_does_not_match_shape_and_datatype(self) -> None:
        """Three FP32 elements need 12 bytes: 8 is a binary_size_mismatch."""
        assert reason(pair(body("inputs", raw_tensor("x", "FP32", [3], b"\0" * 8)))) == (
            "binary_size_mismatch"
        )

    @pytest.mark.parametrize("size", [-4, "8", 1.5, True])
    def test_binary_data_size_not_a_count(self, size: object) -> None:
        """binary_data_size must be a non-negative integer."""
        spec = {
            "name": "x",
            "datatype": "UINT8",
            "shape": [1],
            "parameters": {"binary_data_size": size},
        }
        assert reason(pair(body("inputs", spec))) == "binary_size_invalid"

    @pytest.mark.parametrize(
        ("raw", "count"),
        [
            (bytes_elements(b"abc")[:-1], 1),  # the element runs past the data
            (b"\x01\x00", 1),  # the length prefix itself is cut
            (bytes_elements(b"a", b"b") + b"\0", 2),  # a byte left after the elements
        ],
    )
    def test_bytes_elements_that_do_not_fill_the_tensor(self, raw: bytes, count: int) -> None:
        """BYTES data that its elements do not fill exactly is binary_bytes_invalid."""
        spec = raw_tensor("s", "BYTES", [count], raw)
        assert reason(pair(body("inputs", spec))) == "binary_bytes_invalid"

    def test_binary_body_without_the_header(self) -> None:
        """A v2 body that is not UTF-8 and comes without the header is binary_header_missing."""
        raw, _ = body("inputs", raw_tensor("x", "FP32", [1], b"\x00\x00\xc0\xff"))
        assert reason(pair(raw)) == "binary_header_missing"

    def test_too_many_elements(self) -> None:
        """More elements than a JSON body of max_bytes could hold is too_large."""
        raw = np.zeros(600, dtype="<u1").tobytes()
        captured = pair(body("inputs", raw_tensor("x", "UINT8", [600], raw)))
        with pytest.raises(DecodeError) as error:
            decode_pair(captured, OPTIONS, max_bytes=1000)
        assert error.value.reason == "too_large"

    def test_a_bad_binary_response_is_an_error_not_a_missing_prediction(self) -> None:
        """A response declaring binary outputs must decode; a size mismatch there is counted."""
        request = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
        response, length = body("outputs", raw_tensor("y", "FP32", [1], b"\0\0\0\0"))
        captured = pair(json.dumps(request).encode(), (response + b"!", length))
        assert reason(captured) == "binary_size_mismatch"
