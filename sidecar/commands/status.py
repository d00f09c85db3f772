"""`sidecar status`: fetch `GET /api/v1/status` from the admin port and print it for a person.

Exit codes follow the Nagios plugin convention, so the command can back a probe or a cron check:
0 when the overall verdict is `ok` or `unknown` (too little data is not a failure), 1 for
`warning`, 2 for `critical`, 3 when the admin API cannot be reached or answers with something
that is not a status report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import httpx

from sidecar.windows import WINDOW_VIEWS

DEFAULT_ADMIN_URL = "http://127.0.0.1:9464"
DEFAULT_TIMEOUT_SECONDS = 5.0
EXIT_CODES = {"ok": 0, "unknown": 0, "warning": 1, "critical": 2}
EXIT_UNREACHABLE = 3

_COLOURS = {"ok": "\033[32m", "warning": "\033[33m", "critical": "\033[31m", "unknown": "\033[2m"}
_RESET = "\033[0m"
_HEADERS = ("SIGNAL", "STATUS", "VALUE", "THRESHOLD", "DETAIL")


class StatusUnavailable(Exception):
    """The admin API could not be reached or did not return a status report."""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `status` sub-command to an argparse sub-parser set."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="print the sidecar's health verdicts",
        description="Print one verdict per signal from the admin API. Exit 0 ok/unknown, "
        "1 warning, 2 critical, 3 unreachable.",
    )
    parser.add_argument(
        "--admin",
        default=os.environ.get("SIDECAR_ADMIN_URL", DEFAULT_ADMIN_URL),
        help=f"admin base URL (default $SIDECAR_ADMIN_URL or {DEFAULT_ADMIN_URL})",
    )
    parser.add_argument(
        "--token", default=os.environ.get("SIDECAR_ADMIN_TOKEN"), help="admin token"
    )
    parser.add_argument(
        "--window",
        choices=WINDOW_VIEWS,
        default="current",
        help="window the model signals are judged over, as the admin API's window= "
        "(default current: the sliding last window_seconds)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON report")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds")
    parser.set_defaults(run=run)
    return parser


def fetch_status(
    admin: str, token: str | None = None, timeout: float = 5.0, window: str = "current"
) -> dict[str, Any]:
    """The status report from `{admin}/api/v1/status?window=`; StatusUnavailable on failure."""
    url = admin.rstrip("/") + "/api/v1/status"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout, params={"window": window})
    except httpx.HTTPError as exc:
        raise StatusUnavailable(f"cannot reach {url}: {exc}") from exc
    if response.status_code != 200:
        raise StatusUnavailable(f"{url} answered HTTP {response.status_code}")
    try:
        report = response.json()
    except json.JSONDecodeError as exc:
        raise StatusUnavailable(f"{url} did not return JSON: {exc}") from exc
    if not isinstance(report, dict) or report.get("status") not in EXIT_CODES:
        raise StatusUnavailable(f"{url} did not return a status report")
    return report


def use_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    env = os.environ if environ is None else environ
    return bool(stream.isatty()) and not env.get("NO_COLOR")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_table(report: Mapping[str, Any], colour: bool = False) -> str:
    """The report as an aligned text table, one row per signal, then the overall verdict."""
    rows = [
        (
            str(s.get("name", "?")),
            str(s.get("status", "unknown")),
            _cell(s.get("value")),
            _cell(s.get("threshold")),
            str(s.get("detail", "")),
        )
        for s in report.get("signals", [])
    ]
    widths = [max(len(r[i]) for r in [_HEADERS, *rows]) for i in range(4)]
    header = [h.ljust(w) for h, w in zip(_HEADERS, widths, strict=False)]
    lines = ["  ".join(header) + "  " + _HEADERS[4]]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        if colour:
            cells[1] = _COLOURS.get(row[1], "") + cells[1] + _RESET
        lines.append("  ".join(cells) + "  " + row[4])
    overall = str(report.get("status", "unknown"))
    shown = _COLOURS.get(overall, "") + overall + _RESET if colour else overall
    lines.append(f"\noverall: {shown}  (generated {report.get('generated_at', '?')})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Fetch and print the status; the exit code carries the overall verdict."""
    try:
        window = getattr(args, "window", "current")
        report = fetch_status(args.admin, getattr(args, "token", None), args.timeout, window)
    except StatusUnavailable as exc:
        print(f"sidecar status: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report, use_colour(sys.stdout)))
    return EXIT_CODES[report["status"]]
