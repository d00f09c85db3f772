"""The admin port's page: drift, quality and performance over time as server-rendered HTML."""

from __future__ import annotations

from sidecar.page.gather import PageSources, page_data
from sidecar.page.render import page_headers, render_page

__all__ = ["PageSources", "page_data", "page_headers", "render_page"]
