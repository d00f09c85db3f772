"""A KServe `ModelServer` with one custom v2 model, run from the `.kserve/` virtualenv.

Usage: python kserve_server.py PORT. Serves model `clf` on 127.0.0.1 only (KServe binds
0.0.0.0 by itself; the test machine allows loopback only). The model declares its inputs and
outputs in its metadata and answers with its outputs in the order the client asked for them:
`proba`, the softmax of a linear score of `x` (FP32 [N, 3]), and `label` (BYTES [N]). Inputs
`count` (INT64 [N]), `flag` (BOOL [N]), `half` (FP16 [N], binary only) and `tag` (BYTES [N]) are
read and ignored, so every datatype the clients send reaches a real server.
"""

from __future__ import annotations

import sys

import numpy as np
import uvicorn

WEIGHTS = np.array([[1.0, -1.0], [0.5, 0.25], [-0.75, 1.0]], dtype=np.float32)


class _LoopbackConfig(uvicorn.Config):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def main() -> None:
    port = sys.argv[1]
    sys.argv = [sys.argv[0], "--http_port", port, "--grpc_port", "0"]
    uvicorn.Config = _LoopbackConfig  # type: ignore[misc]

    import kserve
    from kserve import InferOutput, InferRequest, InferResponse

    class Classifier(kserve.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__("clf")
            self.ready = True

        def get_input_types(self) -> list[dict[str, object]]:
            return [
                {"name": "x", "datatype": "FP32", "shape": [-1, 3]},
                {"name": "count", "datatype": "INT64", "shape": [-1]},
                {"name": "flag", "datatype": "BOOL", "shape": [-1]},
                {"name": "tag", "datatype": "BYTES", "shape": [-1]},
            ]

        def get_output_types(self) -> list[dict[str, object]]:
            return [
                {"name": "proba", "datatype": "FP32", "shape": [-1, 2]},
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
            ]

        async def predict(
            self,
            payload: InferRequest,
            headers: dict[str, str] | None = None,
            response_headers: dict[str, str] | None = None,
        ) -> InferResponse:
            x = payload.get_input_by_name("x").as_numpy().astype(np.float32)
            scores = x @ WEIGHTS
            exp = np.exp(scores - scores.max(axis=1, keepdims=True))
            proba = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
            labels = np.array([b"yes" if p[1] > 0.5 else b"no" for p in proba], dtype=np.object_)
            outputs = {
                "proba": InferOutput("proba", list(proba.shape), "FP32"),
                "label": InferOutput("label", [len(labels)], "BYTES"),
            }
            outputs["proba"].set_data_from_numpy(proba)
            outputs["label"].set_data_from_numpy(labels)
            asked = [o.name for o in payload.request_outputs or []] or list(outputs)
            return InferResponse(
                response_id=payload.id,
                model_name=self.name,
                infer_outputs=[outputs[name] for name in asked],
                use_binary_outputs=payload.use_binary_outputs,
                requested_outputs=payload.request_outputs,
            )

    kserve.ModelServer(enable_grpc=False, workers=1).start([Classifier()])


if __name__ == "__main__":
    main()
