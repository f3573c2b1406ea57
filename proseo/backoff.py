"""Back-off between the tries of a loop that meets an outage (a database or storage that cannot
be reached): the pause doubles with each failed try up to a cap, and one try that gets through
resets it."""

from __future__ import annotations

import time


class Backoff:
    """When the next try is due. After the first failed try the next comes ``first_s``
    seconds later, then 2, 4, 8 ... times that, at most ``max_s`` seconds apart; times are
    ``time.monotonic()`` seconds."""

    def __init__(self, first_s: float, max_s: float) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.failures = 0
        self.next_at = 0.0
        self.first_failed_at: float | None = None
        """When the outage was first met (``None`` while the tries get through)."""

    def due(self) -> bool:
        """Whether a try may run now."""
        return time.monotonic() >= self.next_at

    def failed(self) -> float:
        """Record a failed try; returns the seconds until the next one."""
        now = time.monotonic()
        if self.first_failed_at is None:
            self.first_failed_at = now
        delay = min(self.first_s * float(2**self.failures), self.max_s)
        self.failures += 1
        self.next_at = now + delay
        return delay

    def passed(self) -> None:
        """Record a try that got through: the next may run at once."""
        self.failures, self.next_at, self.first_failed_at = 0, 0.0, None

    def failing_for(self) -> float:
        """Seconds since the outage was first met (0 while the tries get through)."""
        if self.first_failed_at is None:
            return 0.0
        return time.monotonic() - self.first_failed_at
