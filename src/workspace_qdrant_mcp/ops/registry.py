"""One declaration per operation: its name, its function and how it may be run.

Every operation is a plain function ``fn(ws, **params)`` in one of the modules
of this package, declared once with ``@operation(...)``. The declaration carries
everything the layers above need to know, so nothing is listed twice:

* the service's dispatch and the in-process backend both run ``run()``;
* ``takes_project`` and ``path_params``: which parameters are folders, made
  absolute against the *caller's* working directory (the service runs in ``/``);
* ``retry_safe``: a call cut by a service restart may be sent again;
* ``timeout``: how long a client waits for the reply (``short`` for reads,
  ``long`` for work that reports progress);
* ``mcp_tool``/``read_only``/``destructive``: the MCP tool table and its hints.

The table is data (``describe()``): the workspace service sends it in its
``hello`` reply, so a client knows the rules without importing this layer.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..core.errors import InvalidArgument
from ..core.requests import serving

if TYPE_CHECKING:
    from ..workspace.workspace import Workspace

Timeout = Literal["short", "long"]
#: Seconds a client waits for a reply, per timeout class. ``long`` operations send
#: progress frames; the wait restarts at each one, so it bounds silence, not work.
TIMEOUT_SECONDS: dict[str, float] = {"short": 60.0, "long": 600.0}
#: The modules holding operations; importing them declares their operations.
OP_MODULES = (
    "health", "status", "ingest", "search", "notes", "identity", "aliases", "reindex", "overview",
    "models", "forget", "engine",
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """An operation and the facts every layer above derives its behaviour from."""

    name: str
    fn: Callable[..., Any]
    takes_project: bool = False
    read_only: bool = False
    retry_safe: bool = False
    destructive: bool = False
    timeout: Timeout = "short"
    mcp_tool: str | None = None
    path_params: tuple[str, ...] = ()
    needs_open: bool = True

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON (what the service tells its clients)."""
        return {
            "takes_project": self.takes_project,
            "read_only": self.read_only,
            "retry_safe": self.retry_safe,
            "destructive": self.destructive,
            "timeout": self.timeout,
            "mcp_tool": self.mcp_tool,
            "path_params": list(self.path_params),
        }

    @property
    def accepts_progress(self) -> bool:
        """True when the function reports progress through a ``progress`` callback."""
        return "progress" in inspect.signature(self.fn).parameters


OPERATIONS: dict[str, Operation] = {}


def operation(
    name: str | None = None,
    *,
    takes_project: bool = False,
    read_only: bool = False,
    retry_safe: bool | None = None,
    destructive: bool = False,
    timeout: Timeout = "short",
    mcp_tool: str | None = None,
    path_params: tuple[str, ...] = (),
    needs_open: bool = True,
) -> Callable[[F], F]:
    """Declare ``fn`` as an operation (``retry_safe`` defaults to ``read_only``).

    ``needs_open=False`` is for an operation that must run when the workspace
    cannot open (``doctor`` diagnoses why); it opens what it can itself.
    """

    def register(fn: F) -> F:
        op_name = name or fn.__name__
        if op_name in OPERATIONS and OPERATIONS[op_name].fn is not fn:
            raise RuntimeError(f"operation {op_name!r} is declared twice")
        params = ("project_path", *path_params) if takes_project else path_params
        OPERATIONS[op_name] = Operation(
            name=op_name,
            fn=fn,
            takes_project=takes_project,
            read_only=read_only,
            retry_safe=read_only if retry_safe is None else retry_safe,
            destructive=destructive,
            timeout=timeout,
            mcp_tool=mcp_tool,
            path_params=tuple(dict.fromkeys(params)),
            needs_open=needs_open,
        )
        return fn

    return register


def load() -> dict[str, Operation]:
    """Every declared operation (imports the operation modules once)."""
    for module in OP_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    return OPERATIONS


def get(name: str) -> Operation:
    """The operation called ``name``."""
    ops = load()
    if name not in ops:
        raise InvalidArgument(f"Unknown operation {name!r}.")
    return ops[name]


def describe() -> dict[str, dict[str, Any]]:
    """The whole table as JSON."""
    return {name: op.describe() for name, op in sorted(load().items())}


def prepare_params(
    info: dict[str, Any], params: dict[str, Any], cwd: str, default_project: Path | None
) -> dict[str, Any]:
    """Folder parameters made absolute in the caller's terms (``cwd`` is the caller's).

    ``info`` is an operation's ``describe()``. An operation that takes a project
    gets ``project_path`` filled in when the caller gave none: the caller's
    configured project, else its working directory. This runs on the caller's
    side, whichever backend runs the operation, because the service's own
    directory and settings say nothing about the caller.
    """
    fixed = dict(params)
    if info.get("takes_project") and fixed.get("project_path") is None:
        fixed["project_path"] = str(default_project) if default_project else cwd
    for key in info.get("path_params") or ():
        value = fixed.get(key)
        if value is None:
            continue
        if not isinstance(value, (str, os.PathLike)):
            raise InvalidArgument(f"{key} must be a folder path, got {type(value).__name__}.")
        expanded = os.path.expanduser(os.fspath(value))
        fixed[key] = os.path.normpath(os.path.join(cwd, expanded))
    return fixed


def run(
    ws: Workspace,
    name: str,
    params: dict[str, Any],
    progress: Callable[[dict[str, Any]], None] | None = None,
    request_id: str | None = None,
) -> Any:
    """Run operation ``name`` on ``ws``: the one dispatch both backends use.

    Parameters that do not fit the function's signature are refused as the
    caller's mistake before anything runs (a TypeError inside is a bug, not
    that). The workspace is opened if needed, and any alias change a crash or a
    failed write left pending is settled first, so every command starts from
    "applied and recorded" or "not applied". ``request_id`` (chosen by the
    caller) is recorded with any change the operation makes.
    """
    op = get(name)
    call = dict(params)
    if op.accepts_progress and progress is not None:
        call["progress"] = progress
    try:
        inspect.signature(op.fn).bind(ws, **call)
    except TypeError as exc:
        raise InvalidArgument(f"Bad parameters for {name}: {exc}.") from None
    with serving(request_id):
        if op.needs_open:
            ws.ensure_open()
            ws.settle(strict=not op.read_only)
        return op.fn(ws, **call)
