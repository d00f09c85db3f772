"""Model metadata: parsing the protocol's metadata response, applying it, and caching it."""

from __future__ import annotations

import json

import pytest

from sidecar.decoders import DecodeOptions, decode_pair
from sidecar.decoders.metadata import ModelMetadata, TensorMetadata, parse_metadata
from sidecar.decoders.open_inference import OpenInferenceDecoder
from sidecar.model_metadata import MetadataCache, MetadataError, metadata_path
from sidecar.records import Captured, DecodeError

DECODER = OpenInferenceDecoder()
OPTIONS = DecodeOptions()
PATH = "/v2/models/clf/infer"

METADATA = ModelMetadata(
    name="clf",
    inputs=(TensorMetadata("x", "FP32", (-1, 2)), TensorMetadata("age", "INT32", (-1,))),
    outputs=(TensorMetadata("proba", "FP32", (-1, 2)), TensorMetadata("label", "BYTES", (-1,))),
)


def tensor(
    name: str | None, shape: list[int], datatype: str | None, data: object
) -> dict[str, object]:
    """A v2 tensor; None leaves a field out."""
    spec = {"name": name, "shape": shape, "datatype": datatype, "data": data}
    return {k: v for k, v in spec.items() if v is not None}


class TestParseMetadata:
    def test_metadata_response_from_the_spec(self) -> None:
        """The spec's metadata object gives names, upper-case datatypes and shapes with -1."""
        body = {
            "name": "clf",
            "versions": ["1", "2"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "x", "datatype": "fp32", "shape": [-1, 2]}],
            "outputs": [{"name": "proba", "datatype": "FP32", "shape": [-1, 2]}],
        }
        parsed = parse_metadata(json.dumps(body).encode())
        assert parsed.inputs == (TensorMetadata("x", "FP32", (-1, 2)),)
        assert parsed.outputs[0].batched and parsed.input("x") is not None

    def test_incomplete_entries_are_skipped(self) -> None:
        """Tensors without a name are skipped; a missing shape or datatype is left empty."""
        body = {"name": "m", "inputs": [{"datatype": "FP32"}, {"name": "a"}], "outputs": 3}
        parsed = parse_metadata(json.dumps(body).encode())
        assert parsed.inputs == (TensorMetadata("a", "", ()),) and parsed.outputs == ()

    @pytest.mark.parametrize("body", [b"[]", b"{}", b"not json", b'{"name": 1}'])
    def test_not_metadata_is_a_value_error(self, body: bytes) -> None:
        """A body that is no metadata object raises ValueError."""
        with pytest.raises(ValueError):
            parse_metadata(body)


class TestApplyMetadata:
    def test_unnamed_tensors_take_the_declared_names(self) -> None:
        """A tensor without a name is named after the declared tensor at its position."""
        request = {
            "inputs": [tensor(None, [2, 2], "FP32", [1, 2, 3, 4]), tensor("", [2], "INT32", [5, 6])]
        }
        decoded = DECODER.decode(PATH, request, None, OPTIONS, METADATA)
        assert decoded.features == {"x.0": [1.0, 3.0], "x.1": [2.0, 4.0], "age": [5.0, 6.0]}

    def test_unnamed_tensor_without_metadata_is_invalid(self) -> None:
        """Without metadata a nameless tensor stays what it was: an invalid payload."""
        with pytest.raises(DecodeError) as error:
            DECODER.decode(PATH, {"inputs": [tensor(None, [1], "FP32", [1])]}, None, OPTIONS)
        assert error.value.reason == "invalid_payload"

    def test_missing_datatype_comes_from_metadata(self) -> None:
        """A tensor without a datatype takes the declared one."""
        decoded = DECODER.decode(
            PATH, {"inputs": [tensor("age", [2], None, [1, 2])]}, None, OPTIONS, METADATA
        )
        assert decoded.features == {"age": [1.0, 2.0]}

    def test_fixed_first_dimension_is_one_row(self) -> None:
        """A declared shape without a batch dimension makes the whole tensor one row."""
        metadata = ModelMetadata("m", inputs=(TensorMetadata("v", "FP32", (4,)),))
        request = {"inputs": [tensor("v", [4], "FP32", [1, 2, 3, 4])]}
        with_metadata = DECODER.decode(PATH, request, None, OPTIONS, metadata)
        assert with_metadata.n_rows == 1
        assert with_metadata.features == {"v.0": [1.0], "v.1": [2.0], "v.2": [3.0], "v.3": [4.0]}
        assert DECODER.decode(PATH, request, None, OPTIONS).n_rows == 4

    def test_first_declared_output_is_the_prediction(self) -> None:
        """Whatever order the server answers in, the first declared output is `prediction`."""
        request = {"inputs": [tensor("age", [2], "INT32", [1, 2])]}
        response = {
            "outputs": [
                tensor("label", [2], "BYTES", ["no", "yes"]),
                tensor("proba", [2, 2], "FP32", [0.9, 0.1, 0.2, 0.8]),
            ]
        }
        decoded = DECODER.decode(PATH, request, response, OPTIONS, METADATA)
        assert decoded.predictions["prediction"] == ["0", "1"]
        assert decoded.predictions["label"] == ["no", "yes"]
        bare = DECODER.decode(PATH, request, response, OPTIONS)
        assert bare.predictions["prediction"] == ["no", "yes"]

    def test_configured_feature_names_win_over_metadata(self) -> None:
        """`feature_names` from the config still name a single input's columns."""
        request = {"inputs": [tensor(None, [1, 2], "FP32", [1, 2])]}
        options = DecodeOptions(feature_names=("height", "width"))
        decoded = DECODER.decode(PATH, request, None, options, METADATA)
        assert decoded.features == {"height": [1.0], "width": [2.0]}


class FakeFetch:
    """Answers from a table and records calls; a missing entry fails as the server would."""

    def __init__(self, answers: dict[tuple[str, str | None], ModelMetadata | str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, model: str, version: str | None) -> ModelMetadata:
        self.calls.append((model, version))
        answer = self.answers.get((model, version), "unavailable")
        if isinstance(answer, str):
            raise MetadataError(answer, f"{model} {version}")
        return answer


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestMetadataCache:
    def test_fetched_once_per_model(self) -> None:
        """The first lookup fetches; later lookups read the cache."""
        fetch = FakeFetch({("clf", None): METADATA})
        cache = MetadataCache(fetch)
        assert cache.get("clf", None) is METADATA
        assert cache.get("clf", None) is METADATA
        assert fetch.calls == [("clf", None)] and +cache.fetches == {"ok": 1}

    def test_failure_is_counted_and_retried_later(self) -> None:
        """A failed fetch gives None, is counted by outcome, and is retried after retry_seconds."""
        fetch = FakeFetch({("clf", None): "timeout"})
        clock = Clock()
        cache = MetadataCache(fetch, retry_seconds=60, clock=clock)
        assert cache.get("clf", None) is None
        clock.now = 59
        assert cache.get("clf", None) is None and len(fetch.calls) == 1
        fetch.answers[("clf", None)] = METADATA
        clock.now = 61
        assert cache.get("clf", None) is METADATA
        assert +cache.fetches == {"timeout": 1, "ok": 1}

    def test_versioned_metadata_falls_back_to_the_model(self) -> None:
        """A server refusing versioned metadata (an HTTP error) is asked for the model's."""
        fetch = FakeFetch({("clf", "2"): "http_error", ("clf", None): METADATA})
        cache = MetadataCache(fetch)
        assert cache.get("clf", "2") is METADATA
        assert fetch.calls == [("clf", "2"), ("clf", None)]

    def test_cache_is_bounded(self) -> None:
        """At most max_models entries are kept; the oldest is evicted and fetched again."""
        fetch = FakeFetch({(f"m{i}", None): ModelMetadata(f"m{i}") for i in range(4)})
        cache = MetadataCache(fetch, max_models=2)
        for name in ("m0", "m1", "m2", "m0"):
            cache.get(name, None)
        assert fetch.calls == [("m0", None), ("m1", None), ("m2", None), ("m0", None)]

    def test_a_fetch_bug_never_escapes(self) -> None:
        """An unexpected exception in the fetch is counted as invalid, not raised."""

        def broken(model: str, version: str | None) -> ModelMetadata:
            raise RuntimeError("bug")

        cache = MetadataCache(broken)
        assert cache.get("clf", None) is None and +cache.fetches == {"invalid": 1}

    def test_metadata_paths_are_percent_encoded(self) -> None:
        """Names and versions are encoded as one path segment each."""
        assert metadata_path("a b/c", None) == "/v2/models/a%20b%2Fc"
        assert metadata_path("m", "1") == "/v2/models/m/versions/1"


class TestDecodePairLooksUp:
    def test_lookup_by_path_name_and_version(self) -> None:
        """decode_pair asks the lookup for the model and version the v2 path names."""
        fetch = FakeFetch({("clf", "3"): METADATA})
        request = {"inputs": [tensor(None, [1], "INT32", [7])]}
        pair = Captured(
            request_id="r",
            method="POST",
            path="/v2/models/clf/versions/3/infer",
            query="",
            status=200,
            request_headers=(),
            request_body=json.dumps(request).encode(),
            response_body=b"",
            started=0.0,
            duration=0.0,
        )
        decoded = decode_pair(pair, OPTIONS, metadata=MetadataCache(fetch))
        assert decoded.features == {"x": [7.0]} and decoded.model == "clf@3"
        assert fetch.calls == [("clf", "3")]
