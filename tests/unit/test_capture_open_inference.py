"""Capture and the Open Inference Protocol: the binary header is kept, control calls are skipped."""

from __future__ import annotations

import pytest

from sidecar.capture import Capture, Sampler, SamplingPolicy


def _scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, object]:
    return {"method": "POST", "path": path, "query_string": b"", "headers": headers or []}


class TestCaptureOpenInference:
    def test_binary_header_is_kept_on_request_and_response(self) -> None:
        """Inference-Header-Content-Length survives capture both ways (any case in responses)."""
        capture = Capture(Sampler(SamplingPolicy()))
        scope = _scope(
            "/v2/models/m/infer",
            [(b"inference-header-content-length", b"42"), (b"authorization", b"secret")],
        )
        tap = capture.begin(scope, "r", 0.0)
        assert tap is not None
        tap.request_chunk(b"{}")
        tap.response_start(200, [(b"Inference-Header-Content-Length", b"17")])
        tap.finish(200, 0.01, 0.005, complete=True)
        (pair,) = capture.take(1)
        assert pair.request_headers == (("inference-header-content-length", "42"),)
        assert pair.response_headers == (("inference-header-content-length", "17"),)

    @pytest.mark.parametrize(
        "path",
        [
            "/v2/repository/models/m/load",
            "/v2/repository/models/m/unload",
            "/v2/repository/index",
            "/v2/systemsharedmemory/region/r0/register",
            "/v2/logging",
            "/v2/trace/setting",
        ],
    )
    def test_control_plane_posts_are_not_sampled(self, path: str) -> None:
        """The protocol's repository, shared-memory, logging and trace POSTs are not analysed."""
        capture = Capture(Sampler(SamplingPolicy()))
        assert capture.begin(_scope(path), "r", 0.0) is None
        assert capture.seen == 0

    @pytest.mark.parametrize(
        "path", ["/v2/models/m/infer", "/v2/models/m/versions/2/infer", "/predict"]
    )
    def test_inference_posts_are_sampled(self, path: str) -> None:
        """Inference calls, versioned or not, and paths outside /v2/ are sampled as before."""
        capture = Capture(Sampler(SamplingPolicy()))
        assert capture.begin(_scope(path), "r", 0.0) is not None
