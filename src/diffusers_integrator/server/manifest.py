"""Start-up without building a tool: `tools/list` answered from a manifest checked against the code.

Building a tool means importing its module (and the core models it names) and generating its pydantic schemas:
most of what start-up cost beyond a bare MCPServer. The manifest keeps, per tool, what `tools/list` shows (name,
title, description, annotations, input and output schemas) plus what the server needs before a call (the tool's
module, its access). A server that built every tool writes it into the user's cache, with the files the listing
was derived from: every module of this package loaded by then (the tool modules, the core models they name, the
server's own wiring), the tool descriptions (`tools/*.md`) and the SDK's function-to-tool code, each with its size
and modification time (what Python's own bytecode cache checks a source by); its name carries the package's
location and the versions of Python and pydantic. A server whose manifest's files are all unchanged registers each
tool lazily (`LazyToolManager`): the tool is built for real, exactly as `MCPServer.add_tool` builds it, on its
first call or lookup. Otherwise it builds every tool at start-up and writes a new manifest. A manifest that cannot
be read or written is ignored: start-up is then merely slower.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.tools.tool_manager import ToolManager
from mcp_types import Icon, ToolAnnotations

from ..data import data_dir


logger = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parents[1]
_FORMAT = 2
_KEEP = 8  # manifests of other installs kept side by side (several may share the cache)


@dataclass
class ListedTool:
    """What `MCPServer.list_tools` reads of a tool that is not built yet."""

    name: str
    title: str | None
    description: str
    parameters: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: ToolAnnotations | None
    icons: list[Icon] | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class ManifestEntry:
    module: str  # the tool's module under server/tools/, which holds its SPEC
    access: str
    listed: ListedTool


def cache_dir() -> Path:
    """`$DIFFUSERS_INTEGRATOR_CACHE`, else `~/.cache/diffusers-integrator` (where the pinned ruff goes too)."""
    configured = os.environ.get("DIFFUSERS_INTEGRATOR_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "diffusers-integrator"


def manifest_path() -> Path:
    """This installation's manifest: one per package location, Python and pydantic version."""
    import pydantic
    import pydantic_core

    key = f"{_FORMAT}\n{_PACKAGE}\n{sys.version}\n{pydantic.VERSION}\n{pydantic_core.__version__}"
    return cache_dir() / f"tool-manifest-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _stamp(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def _sources() -> list[str]:
    """The files the listing derives from, once every tool is built: this package's modules loaded by now, the
    tool descriptions, and the SDK modules that turn a function into a tool."""
    from mcp.server.mcpserver.tools import base
    from mcp.server.mcpserver.utilities import func_metadata

    package = f"{_PACKAGE}{os.sep}"
    files = {
        module.__file__
        for name, module in list(sys.modules.items())
        if name.split(".")[0] == "diffusers_integrator"
        and (getattr(module, "__file__", None) or "").startswith(package)
    }
    try:
        tools = data_dir("tools")
        files |= {entry.path for entry in os.scandir(tools) if entry.name.endswith(".md")}
    except Exception:  # noqa: BLE001 - no tools/ folder: tool_description() says so when a tool is built
        pass
    files |= {base.__file__, func_metadata.__file__}
    return sorted(f for f in files if f)


def load_manifest() -> list[ManifestEntry] | None:
    """The manifest's entries when every file it was derived from is unchanged, else None (also when there is
    none, or it is unreadable). Costs a stat per file (~100) and a JSON read."""
    try:
        data = json.loads(manifest_path().read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT or data.get("package") != str(_PACKAGE):
            return None
        if any(_stamp(path) != stamp for path, stamp in data["files"].items()):
            return None
        descriptions = {entry.path for entry in os.scandir(data_dir("tools")) if entry.name.endswith(".md")}
        if not descriptions <= set(data["files"]):  # a new tool description: a new tool
            return None
        return [
            ManifestEntry(
                module=item["module"],
                access=item["access"],
                listed=ListedTool(
                    name=item["name"],
                    title=item["title"],
                    description=item["description"],
                    parameters=item["parameters"],
                    output_schema=item["output_schema"],
                    annotations=(
                        ToolAnnotations.model_validate(item["annotations"])
                        if item["annotations"] is not None
                        else None
                    ),
                ),
            )
            for item in data["tools"]
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    except Exception:  # noqa: BLE001 - e.g. no tools/ folder: build the tools, which says what is wrong
        return None


def write_manifest(entries: list[tuple[str, str, Tool]]) -> None:
    """Writes the manifest from built tools: (module, access, tool), in `tools/list` order."""
    import tempfile  # only here: start-up from a manifest never writes one

    tools = [
        {
            "name": tool.name,
            "module": module,
            "access": access,
            "title": tool.title,
            "description": tool.description,
            "parameters": tool.parameters,
            "output_schema": tool.output_schema,
            "annotations": tool.annotations.model_dump(mode="json") if tool.annotations is not None else None,
        }
        for module, access, tool in entries
    ]
    target = manifest_path()
    try:
        files = {path: _stamp(path) for path in _sources()}
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, prefix=".tool-manifest-", suffix=".tmp", delete=False
        ) as stream:
            json.dump({"format": _FORMAT, "package": str(_PACKAGE), "files": files, "tools": tools}, stream)
        os.replace(stream.name, target)  # atomic: a reader sees the old manifest or the whole new one
        others = sorted(target.parent.glob("tool-manifest-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in others[_KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError as error:
        logger.debug("tool manifest not written (%s): start-up stays eager", error)


class LazyToolManager(ToolManager):
    """A ToolManager whose tools may be registered as a listing plus a builder, built on first use."""

    def __init__(self, warn_on_duplicate_tools: bool = True, *, tools: list[Tool] | None = None):
        super().__init__(warn_on_duplicate_tools, tools=tools)
        self._pending: dict[str, tuple[ListedTool, Callable[[], Tool]]] = {}
        self._order: dict[str, None] = dict.fromkeys(self._tools)

    def add_lazy(self, listed: ListedTool, build: Callable[[], Tool]) -> None:
        """Lists `listed` now; `build()` makes the real tool when it is first looked up."""
        if not self._new(listed.name):
            return
        self._pending[listed.name] = (listed, build)
        self._order[listed.name] = None

    def add_built(self, tool: Tool) -> None:
        """Registers a tool built already (what `add_tool` does after building it)."""
        if not self._new(tool.name):
            return
        self._tools[tool.name] = tool
        self._order[tool.name] = None

    def _new(self, name: str) -> bool:
        if name in self._order:
            if self.warn_on_duplicate_tools:
                logger.warning("Tool already exists: %s", name)
            return False
        return True

    def add_tool(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Tool:
        tool = super().add_tool(fn, *args, **kwargs)
        self._order.setdefault(tool.name, None)
        return tool

    def get_tool(self, name: str) -> Tool | None:
        pending = self._pending.get(name)
        if pending is not None:
            self._tools[name] = pending[1]()  # a failing build leaves the tool listed and pending
            del self._pending[name]
        return super().get_tool(name)

    def list_tools(self) -> list[Any]:
        return [self._tools[name] if name in self._tools else self._pending[name][0] for name in self._order]

    def remove_tool(self, name: str) -> None:
        if self._pending.pop(name, None) is not None:
            del self._order[name]
            return
        super().remove_tool(name)
        self._order.pop(name, None)
