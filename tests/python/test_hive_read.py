#!/usr/bin/env python3
"""Check that DuckDB and pyarrow read every staged and mart dataset as hive partitions.

    python tests/python/test_hive_read.py --datasets DIR [--require-marts]

Every folder `DIR/2_staged/*` and `DIR/3_marts/*` with `snapshot=*` subfolders is one dataset.
For each, it is read with DuckDB (`read_parquet('DS/*/*.parquet', hive_partitioning = true)`)
and with `pyarrow.dataset.dataset(DS, format='parquet', partitioning='hive')`, and checked:

- every `snapshot=` folder is a date and holds a parquet file, and no file stores `snapshot`;
- all partitions have the same columns and types;
- both readers give a `snapshot` column whose values are the folder dates, with the row count
  of each folder's files (an empty partition contributes no value), and the same total;
- every timestamp column is tz-aware UTC (pyarrow `timestamp[.., tz=UTC]`, DuckDB
  `TIMESTAMP WITH TIME ZONE`).

Prints one line per dataset and last `hive-read: N passed, M failed`; exit 1 on any failure.
No staged dataset at all is a failure (so are no marts with --require-marts). Read only.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

LAYERS = ("2_staged", "3_marts")
UTC_NAMES = {"UTC", "Etc/UTC", "+00:00", "Z"}


def discover(root: Path, layer: str) -> list[Path]:
    base = root / layer
    if not base.is_dir():
        return []
    return [
        d for d in sorted(base.iterdir())
        if d.is_dir() and any(p.is_dir() for p in d.glob("snapshot=*"))
    ]


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def non_utc_timestamps(typ: pa.DataType, path: str) -> list[str]:
    """Paths of timestamp types (also nested in lists and structs) that are not tz=UTC."""
    if pa.types.is_timestamp(typ):
        return [] if typ.tz in UTC_NAMES else [f"{path}: {typ}"]
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return non_utc_timestamps(typ.value_type, f"{path}[]")
    if pa.types.is_struct(typ):
        out = []
        for i in range(typ.num_fields):
            out += non_utc_timestamps(typ.field(i).type, f"{path}.{typ.field(i).name}")
        return out
    if pa.types.is_map(typ):
        return non_utc_timestamps(typ.key_type, f"{path}{{key}}") + non_utc_timestamps(
            typ.item_type, f"{path}{{value}}")
    return []


def check(ds: Path) -> tuple[list[str], str]:
    """(problems, summary) for one dataset folder."""
    problems: list[str] = []

    # What the folders say: date -> rows (from the parquet footers), and one schema.
    expected: dict[str, int] = {}
    schemas: dict[str, pa.Schema] = {}
    for part in sorted(p for p in ds.glob("snapshot=*") if p.is_dir()):
        value = part.name.split("=", 1)[1]
        try:
            date.fromisoformat(value)
            if len(value) != 10:
                raise ValueError
        except ValueError:
            problems.append(f"{part.name}: not a YYYY-MM-DD date")
            continue
        files = sorted(part.glob("*.parquet"))
        if not files:
            problems.append(f"{part.name}: no parquet file")
            continue
        rows = 0
        for f in files:
            meta = pq.ParquetFile(f)
            rows += meta.metadata.num_rows
            schema = meta.schema_arrow
            if "snapshot" in schema.names:
                problems.append(f"{part.name}/{f.name}: stores a snapshot column")
            schemas[f"{part.name}/{f.name}"] = schema
        expected[value] = rows
    if problems:
        return problems, ""

    first_name, first = next(iter(schemas.items()))
    for name, schema in schemas.items():
        if [(f.name, f.type) for f in schema] != [(f.name, f.type) for f in first]:
            diff = set(map(str, schema)) ^ set(map(str, first))
            problems.append(f"{name}: schema differs from {first_name}: {sorted(diff)}")
    not_utc = {
        p for schema in schemas.values() for field in schema
        for p in non_utc_timestamps(field.type, field.name)
    }
    problems += [f"file column {p}" for p in sorted(not_utc)]
    n_ts = sum(1 for field in first if pa.types.is_timestamp(field.type))

    want = {d: n for d, n in expected.items() if n > 0}
    total = sum(expected.values())

    # DuckDB.
    duck_counts: dict[str, int] = {}
    duck_type = None
    try:
        con = duckdb.connect()
        src = f"read_parquet({sql_str(ds.as_posix() + '/*/*.parquet')}, hive_partitioning = true)"
        types = dict(
            (row[0], row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
        )
        duck_type = types.get("snapshot")
        if duck_type is None:
            problems.append("duckdb: no snapshot column")
        else:
            duck_counts = dict(con.execute(
                f"SELECT CAST(snapshot AS VARCHAR), count(*) FROM {src} GROUP BY 1"
            ).fetchall())
            (duck_total,) = con.execute(f"SELECT count(*) FROM {src}").fetchall()[0]
            if duck_total != total:
                problems.append(f"duckdb: {duck_total} rows, files hold {total}")
        for col, typ in types.items():
            if "TIMESTAMP" in typ and typ != "TIMESTAMP WITH TIME ZONE":
                problems.append(f"duckdb: {col} is {typ}, not TIMESTAMP WITH TIME ZONE")
        con.close()
    except duckdb.Error as e:
        problems.append(f"duckdb: {type(e).__name__}: {e}")
    if duck_type is not None and duck_counts != want:
        problems.append(f"duckdb: snapshot counts {sorted(duck_counts.items())} != folders {sorted(want.items())}")

    # pyarrow.
    arrow_counts: dict[str, int] = {}
    arrow_type = None
    try:
        dataset = pads.dataset(str(ds), format="parquet", partitioning="hive")
        if "snapshot" not in dataset.schema.names:
            problems.append("pyarrow: no snapshot column")
        else:
            arrow_type = dataset.schema.field("snapshot").type
            col = dataset.to_table(columns=["snapshot"]).column("snapshot")
            if col.null_count:
                problems.append(f"pyarrow: {col.null_count} rows without a snapshot value")
            values = pc.cast(col, pa.string()).to_pylist()
            arrow_counts = dict(Counter(v for v in values if v is not None))
            if len(col) != total:
                problems.append(f"pyarrow: {len(col)} rows, files hold {total}")
            if arrow_counts != want:
                problems.append(f"pyarrow: snapshot counts {sorted(arrow_counts.items())} != folders {sorted(want.items())}")
        for field in dataset.schema:
            problems += [f"pyarrow: {p}" for p in non_utc_timestamps(field.type, field.name)]
        missing = set(first.names) - set(dataset.schema.names)
        if missing:
            problems.append(f"pyarrow: dataset schema lacks {sorted(missing)}")
    except (pa.ArrowException, OSError, ValueError) as e:
        problems.append(f"pyarrow: {type(e).__name__}: {e}")

    if sum(duck_counts.values()) != sum(arrow_counts.values()) and not problems:
        problems.append("duckdb and pyarrow row counts differ")
    empty = len(expected) - len(want)
    summary = (
        f"{len(expected)} partitions{f' ({empty} empty)' if empty else ''}, {total} rows, "
        f"snapshot {duck_type} (duckdb) / {arrow_type} (pyarrow), "
        f"{n_ts} UTC timestamp column{'s' if n_ts != 1 else ''}"
    )
    return problems, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=Path("datasets"), help="dataset root")
    ap.add_argument("--require-marts", action="store_true",
                    help="fail when DIR/3_marts has no partitioned dataset")
    args = ap.parse_args(argv)
    root = args.datasets.resolve()

    passed = failed = 0
    for layer in LAYERS:
        found = discover(root, layer)
        if not found:
            required = layer == "2_staged" or args.require_marts
            print(f"{'FAIL' if required else 'skip'} {layer}: no dataset with snapshot=* folders under {root / layer}")
            failed += required
            continue
        for ds in found:
            label = f"{layer}/{ds.name}"
            try:
                problems, summary = check(ds)
            except Exception as e:  # a reader crashed: report it as this dataset's failure
                problems, summary = [f"{type(e).__name__}: {e}"], ""
            if problems:
                failed += 1
                print(f"FAIL {label}")
                for p in problems:
                    print(f"    {p}")
            else:
                passed += 1
                print(f"ok   {label}: {summary}")
    print(f"hive-read: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
