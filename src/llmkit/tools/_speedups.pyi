# The compiled scanners (_speedups.c); they mirror llmkit.tools.scan.PureJsonScanner and
# llmkit.tools.scan_python.PurePythonListScanner.
from collections.abc import Iterable

class JsonScanner:
    consumed: int
    done: bool
    stop: bool
    error: str | None
    keys_seen: int
    name: str | None
    args_start: int | None
    args_end: int | None
    def __init__(
        self, *, name_keys: Iterable[str] = ..., args_keys: Iterable[str] = ...
    ) -> None: ...
    def send(self, piece: tuple[str, int], /) -> int: ...
    def feed(self, text: str, pos: int, /) -> int: ...

class PythonListScanner:
    commas: list[int]
    consumed: int
    done: bool
    stop: bool
    error: str | None
    looks_like_calls: bool
    def __init__(self) -> None: ...
    def send(self, piece: tuple[str, int], /) -> int: ...
    def feed(self, text: str, pos: int, /) -> int: ...
