"""Where a proxied request's time goes: the sidecar's event loop under cProfile, with load.

py-spy cannot read other processes' memory in this container (it fails with "Failed to find
python version from target process"), and a sampling thread inside the process only sees the
loop when it releases the GIL (in epoll), so this script runs `sidecar run` in its main thread
(uvloop, as in production) and switches cProfile on in the loop thread for `--seconds` after
`--delay` seconds of warm-up, while load runs elsewhere, e.g.

    taskset -c 0 python bench/profile_proxy.py --upstream http://127.0.0.1:8080 --port 8002 &
    taskset -c 1 wrk -t1 -c16 -d15s -s post.lua http://127.0.0.1:8002/v1/models/m:predict

It prints the functions by own time (cProfile inflates calls of small functions, so compare
them with each other, not with the wall clock) and the count of proxied requests, so that the
time per request of each piece can be read off.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import threading
import time

from sidecar.config import load_settings
from sidecar.server import SidecarProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sample-rate", default="1")
    parser.add_argument("--delay", type=float, default=5.0, help="seconds before profiling")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of profiling")
    parser.add_argument("--top", type=int, default=40, help="functions to print")
    args = parser.parse_args()
    flags = {"upstream": args.upstream, "host": "127.0.0.1", "port": str(args.port)}
    flags |= {"admin_port": "0", "sample_rate": args.sample_rate, "log_level": "warning"}
    process = SidecarProcess(load_settings(flags, environ={}))
    profiler = cProfile.Profile()

    def control() -> None:
        time.sleep(args.delay)
        assert process.loop is not None
        process.loop.call_soon_threadsafe(profiler.enable)
        time.sleep(args.seconds)
        process.loop.call_soon_threadsafe(profiler.disable)
        time.sleep(0.5)
        stats = pstats.Stats(profiler)
        calls = sum(n for (_, _, name), (n, *_rest) in stats.stats.items() if name == "finish")
        print(f"requests finished while profiling: about {calls}")
        stats.sort_stats("tottime").print_stats(args.top)
        process.stop()

    threading.Thread(target=control, daemon=True).start()
    process.run()


if __name__ == "__main__":
    main()
