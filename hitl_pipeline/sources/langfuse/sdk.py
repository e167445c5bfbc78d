"""The parts of the Langfuse SDK this source uses — its REST client ``langfuse.api`` — imported
without running ``langfuse/__init__.py``, which loads the whole SDK (the tracing client and its
OpenTelemetry stack: about half a second of ``hitl run``'s start-up, for nothing hitl uses).

``langfuse`` is registered as a bare package whose submodules import as usual; asking it for
anything else (``from langfuse import Langfuse``) runs the real ``__init__`` then, so other code in
the process still gets the full SDK.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any


def _bare_package() -> None:
    if "langfuse" in sys.modules:
        return
    spec = importlib.util.find_spec("langfuse")
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("langfuse")
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__package__ = "langfuse"
    package.__spec__ = spec
    origin = spec.origin
    loaded = False

    def __getattr__(name: str) -> Any:  # noqa: N807  (the module-level hook)
        nonlocal loaded
        if name.startswith("__") or loaded:
            raise AttributeError(f"module 'langfuse' has no attribute {name!r}")
        loaded = True
        with open(origin, encoding="utf-8") as f:
            code = compile(f.read(), origin, "exec")
        exec(code, package.__dict__)  # noqa: S102  the SDK's own __init__, run on first use
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules["langfuse"] = package


_bare_package()

from langfuse.api import LangfuseAPI  # noqa: E402
from langfuse.api.core.api_error import ApiError  # noqa: E402

__all__ = ["ApiError", "LangfuseAPI"]
