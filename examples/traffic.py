"""Load and drift generator for a model server behind the sidecar (the demo's traffic, standalone).

    python examples/traffic.py --target http://127.0.0.1:8000 --admin http://127.0.0.1:9464 \
        --rate 50 --shift-after 30 --duration 120

Sends seeded credit-model requests (half KServe v1, half Open Inference v2, each with an
X-Request-ID) at --rate per second; after --shift-after seconds `income` and the `region` mix
shift and group B's outcomes change. With --admin, the true labels are posted a few seconds
later to /api/v1/feedback. Prints one progress line every --report seconds and a final line
`traffic: sent=... ok=... failed=...`; Ctrl-C or --duration stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from sidecar.demo.traffic import DEFAULT_RATE, DEFAULT_SHIFT_AFTER, TrafficGenerator, TrafficOptions


async def _run(args: argparse.Namespace) -> None:
    options = TrafficOptions(
        target=args.target.rstrip("/"),
        admin=args.admin.rstrip("/") if args.admin else None,
        rate=args.rate,
        shift_after=None if args.shift_after < 0 else args.shift_after,
        model=args.model_name,
        seed=args.seed,
    )
    traffic = TrafficGenerator(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    sender = asyncio.ensure_future(traffic.run(stop))
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.report)
        print(f"t={traffic.elapsed():.1f}s {traffic.stats.line()}", flush=True)
    stats = await sender
    print(f"traffic: {stats.line()}", flush=True)


def main() -> None:
    """Parse options and send traffic until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="proxy (or model server) base URL")
    parser.add_argument("--admin", help="sidecar admin base URL for delayed labels")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests per second")
    parser.add_argument(
        "--shift-after", type=float, default=DEFAULT_SHIFT_AFTER, help="seconds; < 0: never"
    )
    parser.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument("--report", type=float, default=5.0, help="seconds between lines")
    parser.add_argument("--model-name", default="credit", help="model name in the routes")
    parser.add_argument("--seed", type=int, default=11, help="random seed")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
