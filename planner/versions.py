"""Comparing processor and configuration versions as versions, not as strings.

``"10.0" > "9.2"`` and ``"02.04.00" == "2.4.0"``; ``"1.0.0-rc1" < "1.0.0"``. Versions are
split into numeric and text runs; numbers compare numerically, text case-insensitively, and a
pre-release tag (text after the numbers) sorts before the release.
"""

from __future__ import annotations

import re

_RUN = re.compile(r"\d+|[A-Za-z]+")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key: ``max(versions, key=version_key)`` is the newest version."""
    parts: list[tuple[int, int | str]] = []

    def strip_zeros() -> None:
        # Trailing zeros of a numeric group do not make a version newer: 2.4 == 2.4.0.
        while parts and parts[-1] == (2, 0) and len(parts) > 1 and parts[-2][0] == 2:
            parts.pop()

    for run in _RUN.findall(version):
        if run.isdigit():
            parts.append((2, int(run)))
        else:
            strip_zeros()
            parts.append((0, run.lower()))
    strip_zeros()
    # The end of a version sorts after text: 1.0 (end) > 1.0-rc1 (text).
    return (*parts, (1, 0))
