"""Prints Triton's own binary encoding of one small tensor per datatype, as JSON.

Usage: python triton_encode.py. Run from the `.kserve/` virtualenv (`tritonclient[http]` and
`ml_dtypes`, which tritonclient uses for BF16). For each datatype: the raw bytes the client
would send after the JSON header (hex) and the values they stand for.
"""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import tritonclient.http as triton

ARRAYS = {
    "BOOL": np.array([[True, False], [False, True]]),
    "UINT8": np.array([[0, 255], [7, 128]], dtype=np.uint8),
    "UINT16": np.array([[0, 65535], [7, 300]], dtype=np.uint16),
    "UINT32": np.array([[0, 2**32 - 1], [7, 70000]], dtype=np.uint32),
    "UINT64": np.array([[0, 2**53], [7, 2**40]], dtype=np.uint64),
    "INT8": np.array([[-128, 127], [0, -1]], dtype=np.int8),
    "INT16": np.array([[-32768, 32767], [0, -1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 2**31 - 1], [0, -1]], dtype=np.int32),
    "INT64": np.array([[-(2**53), 2**53], [0, -1]], dtype=np.int64),
    "FP16": np.array([[0.5, -2.25], [65504.0, 1e-3]], dtype=np.float16),
    "BF16": np.array([[1.5, -2.0], [3.140625, 1e38]], dtype=ml_dtypes.bfloat16),
    "FP32": np.array([[0.1, -1e30], [3.5, 1e-7]], dtype=np.float32),
    "FP64": np.array([[0.1, -1e300], [3.5, 1e-300]], dtype=np.float64),
    "BYTES": np.array([[b"red", "grün".encode()], [b"", b"a longer string"]], dtype=np.object_),
}


def main() -> None:
    report = {}
    for datatype, array in ARRAYS.items():
        tensor = triton.InferInput("t", list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=True)
        raw = tensor._get_binary_data()
        if datatype == "BYTES":
            values = [v.decode() for v in array.ravel().tolist()]
        elif datatype == "BOOL":
            values = ["true" if v else "false" for v in array.ravel().tolist()]
        else:
            values = array.astype(np.float64).ravel().tolist()
        report[datatype] = {
            "shape": list(array.shape),
            "raw": raw.hex(),
            "size": tensor._get_tensor()["parameters"]["binary_data_size"],
            "values": values,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
