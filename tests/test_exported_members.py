"""The names `import sidecar` offers are deliberate: adding or removing one is an API change."""

from __future__ import annotations

import sidecar


def test_public_names_are_exactly_these() -> None:
    """`sidecar.__all__` lists the record types and the version, and each name exists."""
    assert sidecar.__all__ == ["Captured", "DecodeError", "Decoded", "Value", "__version__"]
    for name in sidecar.__all__:
        assert hasattr(sidecar, name)
    public = {n for n in dir(sidecar) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(sidecar, n)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(sidecar.__all__) - {"__version__"}
