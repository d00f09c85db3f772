"""The demo's toy credit model as a standalone server (KServe v1 and Open Inference Protocol v2).

    python examples/model_server/server.py --port 8080
    curl -s localhost:8080/v2/health/ready

Trains the seeded numpy logistic regression at start (well under a second), prints one line
`model server listening on http://HOST:PORT` once it accepts connections, and stops on Ctrl-C.
Put the sidecar in front of it with `sidecar run --upstream http://127.0.0.1:8080`.
"""

from __future__ import annotations

import argparse
import socket

from sidecar.demo.model import MODEL_NAME, training_data
from sidecar.demo.server import DEFAULT_HOST, DEFAULT_PORT, build_model_app, model_server


def main() -> None:
    """Parse options, train, serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    parser.add_argument("--model-name", default=MODEL_NAME, help="model name in the routes")
    args = parser.parse_args()
    _, model = training_data()
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    server = model_server(build_model_app(model, args.model_name), args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(f"model server listening on http://{host}:{port} (model {args.model_name!r})", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
