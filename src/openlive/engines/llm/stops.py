"""Stop sequences, matched on the decoded text as it streams."""

from __future__ import annotations

from collections.abc import Sequence


class StopScanner:
    """Finds the first stop sequence in streamed text, holding back partial matches.

    ``feed`` returns the text that is safe to emit and whether a stop sequence was hit;
    after a hit, nothing more should be fed. ``flush`` returns what was held back.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        if not self._stops:
            return text, False
        buffer = self._pending + text
        hits = [index for stop in self._stops if (index := buffer.find(stop)) >= 0]
        if hits:
            self._pending = ""
            return buffer[: min(hits)], True
        keep = self._partial_suffix(buffer)
        self._pending = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        pending, self._pending = self._pending, ""
        return pending

    def _partial_suffix(self, buffer: str) -> int:
        """Length of the longest end of ``buffer`` that begins some stop sequence."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest
