"""`python -m sidecar` runs the command line."""

from __future__ import annotations

from sidecar.commands.cli import main

raise SystemExit(main())
