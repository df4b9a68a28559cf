"""What every camera source looks like to the rest of the pipeline, and how it says it is gone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from edge.device.frame import Frame


class FrameSource(Protocol):
    """Yields frames in capture order with increasing `index` and monotonic `t` (seconds).

    Iteration ends only when the source has nothing more to give (the end of a file);
    a live camera yields until `close()`.
    """

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class SourceLost(Exception):
    """The camera could not be opened or stopped delivering; opening it again may help."""
