"""Route templates, model names and protocol detection."""

from __future__ import annotations

import pytest

from sidecar.decoders import SUPPORTED_DECODERS, detect_model, detect_protocol, route_template
from sidecar.decoders.routes import detect_version, is_analysed, model_label, protocol_for_path
from sidecar.records import DecodeError


class TestRouteTemplate:
    @pytest.mark.parametrize(
        ("path", "route"),
        [
            ("/v2/models/iris/infer", "/v2/models/{model}/infer"),
            ("/v2/models/iris/versions/3/infer", "/v2/models/{model}/versions/{version}/infer"),
            ("/v1/models/iris:predict", "/v1/models/{model}:predict"),
            ("/v1/models/iris/versions/2:predict", "/v1/models/{model}:predict"),
            ("/invocations", "/invocations"),
            ("/invocations/", "/invocations"),
            ("/v1/chat/completions", "/v1/chat/completions"),
            ("/openai/v1/chat/completions", "/v1/chat/completions"),
            ("/v1/completions", "/v1/completions"),
            ("/v1/embeddings", "/v1/embeddings"),
            ("/v2/models/iris/ready", "other"),
            ("/predict/12345", "other"),
            ("", "other"),
        ],
    )
    def test_paths_map_to_bounded_templates(self, path: str, route: str) -> None:
        """Known model routes map to their template, and every other path to "other"."""
        assert route_template(path) == route


class TestDetectModel:
    def test_model_from_v2_path_with_and_without_version(self) -> None:
        """The v2 path names the model, with or without a version segment."""
        assert detect_model("/v2/models/iris/infer") == "iris"
        assert detect_model("/v2/models/iris/versions/7/infer") == "iris"

    def test_model_from_v1_path(self) -> None:
        """The TF Serving / KServe v1 path names the model before :predict."""
        assert detect_model("/v1/models/resnet:predict") == "resnet"

    def test_model_from_openai_body(self) -> None:
        """OpenAI-style bodies name the model in `model`."""
        assert detect_model("/v1/chat/completions", {"model": "llama-3"}) == "llama-3"

    def test_unknown_model_is_default_and_long_names_are_cut(self) -> None:
        """Without a name the model is "default"; names are cut to 128 characters."""
        assert detect_model("/predict", {"model": 3}) == "default"
        assert detect_model("/v2/models/" + "m" * 300 + "/infer") == "m" * 128


class TestDetectProtocol:
    @pytest.mark.parametrize(
        ("path", "body", "protocol"),
        [
            ("/v2/models/m/infer", {}, "open_inference"),
            ("/invocations", {"instances": [[1]]}, "mlflow"),
            ("/v1/models/m:predict", {"inputs": {"x": [1]}}, "kserve_v1"),
            (
                "/infer",
                {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]},
                "open_inference",
            ),
            ("/predict", {"instances": [[1, 2]]}, "kserve_v1"),
            ("/predict", {"inputs": {"x": [1, 2]}}, "kserve_v1"),
            ("/predict", {"dataframe_split": {"columns": ["a"], "data": [[1]]}}, "mlflow"),
            ("/predict", {"dataframe_records": [{"a": 1}]}, "mlflow"),
            ("/gen", {"model": "x", "messages": []}, "openai"),
            ("/predict", {"age": 3}, "generic"),
            ("/predict", [{"age": 3}], "generic"),
        ],
    )
    def test_route_then_body_shape(self, path: str, body: object, protocol: str) -> None:
        """The route decides first; otherwise the body shape picks the decoder."""
        assert detect_protocol(path, body) == protocol

    def test_scalar_body_is_unknown(self) -> None:
        """A bare number on an unknown path matches no decoder."""
        with pytest.raises(DecodeError) as error:
            detect_protocol("/predict", 3)
        assert error.value.reason == "unknown_protocol"

    def test_registry_names_match_decoder_names(self) -> None:
        """Every registered decoder is filed under its own name."""
        assert all(name == decoder.name for name, decoder in SUPPORTED_DECODERS.items())


class TestVersions:
    def test_version_joins_the_model_key(self) -> None:
        """A versioned v2 path gives the model key `name@version`; an unversioned one `name`."""
        assert model_label("/v2/models/iris/versions/7/infer") == "iris@7"
        assert model_label("/v2/models/iris/infer") == "iris"
        assert detect_version("/v2/models/iris/versions/7/infer") == "7"
        assert detect_version("/v2/models/iris/infer") is None

    def test_model_key_is_bounded(self) -> None:
        """Name and version together are cut to 128 characters."""
        assert (
            len(model_label("/v2/models/" + "m" * 100 + "/versions/" + "9" * 100 + "/infer")) == 128
        )

    def test_versioned_path_speaks_open_inference(self) -> None:
        """Both v2 inference templates imply the Open Inference protocol."""
        assert protocol_for_path("/v2/models/iris/versions/7/infer") == "open_inference"


class TestAnalysedPaths:
    @pytest.mark.parametrize(
        ("path", "analysed"),
        [
            ("/v2/models/m/infer", True),
            ("/v2/models/m/versions/1/infer", True),
            ("/v2/models/m/generate", True),
            ("/v2/models/m/generate_stream", True),
            ("/v2/models/m", False),
            ("/v2/models/m/ready", False),
            ("/v2/health/live", False),
            ("/v2", False),
            ("/v2/repository/models/m/load", False),
            ("/v2/models/stats", False),
            ("/v2/cudasharedmemory/status", False),
            ("/v1/models/m:predict", True),
            ("/invocations", True),
        ],
    )
    def test_v2_control_plane_is_not_analysed(self, path: str, analysed: bool) -> None:
        """Only inference calls under /v2/ are analysed; every path outside /v2/ still is."""
        assert is_analysed(path) is analysed
