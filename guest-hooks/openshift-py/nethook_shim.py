"""Made by `nethook new`: what a Python hook needs beyond its bindings.

`hook` wraps an entry point so that nothing it raises traps the component:
a capability error (componentize-py raises Err(types.Error_*)) becomes
HookError_Failed("denied: ...") and any other exception HookError_Failed
with its type and message. An Err the hook raises with its own HookError
passes through unchanged.
"""

import functools

from componentize_py_types import Err
from wit_world.imports.types import (
    Error_Denied,
    Error_Failed,
    Error_Invalid,
    Error_NotFound,
    HookError_Failed,
    HookError_InvalidConfig,
    HookPoint,
)

_KINDS = {
    Error_Denied: "denied",
    Error_Invalid: "invalid",
    Error_NotFound: "not found",
    Error_Failed: "failed",
}


def describe(error) -> str:
    """A capability error as the Rust SDK words it: `denied: ...`."""
    kind = _KINDS.get(type(error))
    if kind is None:
        return repr(error)
    return f"{kind}: {error.value}"


def hook(entry):
    @functools.wraps(entry)
    def wrapped(*args, **kwargs):
        try:
            return entry(*args, **kwargs)
        except Err as e:
            if isinstance(e.value, (HookError_Failed, HookError_InvalidConfig)):
                raise
            raise Err(HookError_Failed(describe(e.value)))
        except Exception as e:  # noqa: BLE001: nothing may trap
            raise Err(HookError_Failed(f"{type(e).__name__}: {e}"))

    return wrapped


def point_name(point: HookPoint) -> str:
    """`vpp-running`, as configs spell it."""
    return point.name.lower().replace("_", "-")
