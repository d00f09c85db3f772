"""ASGI types of the proxy port, in one place (ASGI 3.0, HTTP scope only).

Scopes and messages stay the plain dicts servers hand over; these aliases give them names so
that no proxy signature says `Any`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
"""The connection scope (`type`, `method`, `raw_path`, `query_string`, `headers`, ...)."""

Message = MutableMapping[str, Any]
"""One event received from or sent to the server."""

Receive = Callable[[], Awaitable[Message]]
"""Awaits the next request event (`http.request` or `http.disconnect`)."""

Send = Callable[[Message], Awaitable[None]]
"""Sends one response event (`http.response.start`, `http.response.body`)."""

RawHeaders = list[tuple[bytes, bytes]]
"""Header pairs as servers deliver them: names lower-case, order and repeats kept."""
