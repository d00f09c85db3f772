"""The `sidecar` command: run, profile, feedback, status, demo.

Exit status 2 means the command line, the environment or the config file is wrong; the one-line
message on stderr names the key, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sidecar import __version__
from sidecar.config import OPTIONS, ConfigError, Option, load_settings
from sidecar.logs import configure_logging

COMMAND_MODULES = (
    "sidecar.commands.profile",
    "sidecar.commands.feedback",
    "sidecar.commands.status",
    "sidecar.commands.demo",
)
"""Modules with `register(subparsers)` and `run(args) -> int`, one per subcommand."""

GROUP_TITLES = {
    "general": "general (config file and logging)",
    "proxy": "proxying",
    "admin": "admin listener",
    "capture": "capture and sampling",
    "analysis": "analysis",
}

RUN_EPILOG = """\
Every option can also be given as an environment variable (SIDECAR_<OPTION>, e.g.
SIDECAR_UPSTREAM) or as a key of the YAML file passed with --config (e.g. `upstream: ...`).
Precedence: flag > environment > file > default. The file may also hold the sections
drift:, performance:, fairness:, status:, redact: and metrics: (see docs/configuration.md).

Example:
  sidecar run --upstream http://127.0.0.1:8080 --port 8000 --admin-port 9464
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_run(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the proxy and its monitoring in front of a model server",
        description="Forward every request to --upstream unchanged, and monitor a sample of "
        "the traffic off the request path.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = {key: parser.add_argument_group(title) for key, title in GROUP_TITLES.items()}
    for option in OPTIONS:
        _add_option(groups[option.group], option)
    parser.set_defaults(handler=_run)


def _add_option(group: argparse._ArgumentGroup, option: Option) -> None:
    """One `run` flag: booleans take no value, choices are listed, help names the env var."""
    shown = str(option.default).lower() if option.is_flag else option.default
    default = "" if option.default is None else f" (default: {shown})"
    text = f"{option.help}{default}; env {option.env}"
    if option.is_flag:
        # --flag / --no-flag; None when absent so environment and file still apply.
        group.add_argument(
            option.flag, dest=option.key, default=None, action=argparse.BooleanOptionalAction,
            help=text,
        )  # fmt: skip
        return
    metavar = "{" + ",".join(option.choices) + "}" if option.choices else option.key.upper()
    group.add_argument(option.flag, dest=option.key, default=None, metavar=metavar, help=text)


def _run(args: argparse.Namespace) -> int:
    flags = {option.key: getattr(args, option.key, None) for option in OPTIONS}
    try:
        settings = load_settings(flags)
        if not settings.upstream:
            raise ConfigError("upstream is required: pass --upstream URL or set SIDECAR_UPSTREAM")
        configure_logging(settings.log_format, settings.log_level)
        from sidecar.server import SidecarProcess

        process = SidecarProcess(settings)
    except ConfigError as exc:
        print(f"sidecar: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # ListenError names the address and the port
        print(f"sidecar: {exc.strerror or exc}", file=sys.stderr)
        return 1
    proxy_port, admin_port = process.bound_ports
    logging.getLogger("sidecar").info(
        "proxying %s:%d -> %s; admin on %s:%d%s",
        settings.host,
        proxy_port,
        settings.upstream,
        settings.effective_admin_host,
        admin_port,
        ""
        if settings.admin_host
        else " (no admin token: admin bound to loopback; set SIDECAR_ADMIN_HOST to expose it)"
        if settings.effective_admin_host == "127.0.0.1"
        else "",
    )
    process.run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = _Parser(
        prog="sidecar",
        description="model-sidecar: a monitoring reverse proxy for ML model servers. It forwards "
        "traffic untouched and measures drift, data quality, latency, performance "
        "and fairness off the request path.",
    )
    parser.add_argument("--version", action="version", version=f"model-sidecar {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    _add_run(subparsers)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        before = set(subparsers.choices)
        module.register(subparsers)
        for command in set(subparsers.choices) - before:
            subparsers.choices[command].set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sidecar` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result: int = handler(args)
    return result
