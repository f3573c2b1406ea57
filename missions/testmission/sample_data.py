"""TST inputs for trying proseo-py by hand: five L0 granules per orbit and one AUX_ORB___
file covering the orbits, named as the TST plug-in recognises them.

    python -m missions.testmission.sample_data FOLDER [--orbits 1-4]
    proseo ingest FOLDER

TST orbits are 100 minutes long from 2024-01-01T00:00Z (orbit 1), numbered 1 to 100.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proseo.plugins import compact_time

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ORBIT = timedelta(minutes=100)
GRANULES_PER_ORBIT = 5


def _name(product_type: str, start: datetime, stop: datetime, orbit: int) -> str:
    return (
        f"TST_OPER_{product_type}_{compact_time(start)}_{compact_time(stop)}_"
        f"{orbit:05d}_{compact_time(T0)}.dat"
    )


def write_sample_data(folder: Path, first: int, last: int) -> list[Path]:
    """Write the L0 granules of orbits ``first``..``last`` (1..100) and one AUX_ORB___ file
    valid a day before the first orbit to a day after the last into ``folder``.

    :returns: the files written (existing ones are rewritten with the same content).
    :raises ValueError: for orbits outside 1..100 or ``last`` before ``first``.
    """
    if not 1 <= first <= last <= 100:
        raise ValueError(f"orbits {first}-{last}: TST has orbits 1 to 100, FIRST <= LAST")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for orbit in range(first, last + 1):
        start = T0 + (orbit - 1) * ORBIT
        for k in range(GRANULES_PER_ORBIT):
            begin = start + k * ORBIT / GRANULES_PER_ORBIT
            end = start + (k + 1) * ORBIT / GRANULES_PER_ORBIT
            path = folder / _name("L0________", begin, end, orbit)
            path.write_text(f"TST L0 granule of orbit {orbit}, part {k + 1}\n")
            written.append(path)
    valid_from = T0 + (first - 1) * ORBIT - timedelta(days=1)
    valid_to = T0 + last * ORBIT + timedelta(days=1)
    aux = folder / _name("AUX_ORB___", valid_from, valid_to, 0)
    aux.write_text(f"TST orbit file for orbits {first}-{last}\n")
    written.append(aux)
    return written


def main() -> None:
    """Command line: FOLDER [--orbits FIRST-LAST]."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--orbits", default="1-4", help="FIRST-LAST, within 1-100")
    args = parser.parse_args()
    first, _, last = args.orbits.partition("-")
    try:
        files = write_sample_data(args.folder, int(first), int(last or first))
    except ValueError as error:
        parser.error(str(error))
    print(f"{len(files)} TST files in {args.folder}; next: proseo ingest {args.folder}")


if __name__ == "__main__":
    main()
