#!/usr/bin/env python3
"""Runs bench/marts.sql with DuckDB: the contender of `hubaudit join` and `hubaudit report`.

    run_marts_sql.py join   --datasets DIR --snapshot D [--out OUT]
    run_marts_sql.py report --datasets DIR --date D --window A..B [--out OUT]
                            [--tolerance 2] [--threshold 50]

Reads partitions of DIR the way hubaudit does (only those with a manifest; the latest scans
on or before D; the repositories and images-mart snapshots just before D; the staged
pull_counts after that images snapshot up to D; for the report the latest images mart on or before D, every one before it
and every pulls mart on or before D), checks each input against its manifest (size, then
sha256: what `verified_file` costs hubaudit), and writes under OUT (default DIR):
`3_marts/{images,findings,pulls,rejects}/snapshot=D/part-0.parquet` with a manifest (sha256,
fsync, written in a folder renamed into place), or `4_report/D/*.csv` (fsynced, renamed into
place). Prints one JSON line: rows, seconds in total, of it in manifest checks and writes.
`--no-integrity` skips the checks and manifests (DuckDB bare).
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import string
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
SQL = HERE / "marts.sql"
REFERENCE = HERE.parent / "datasets" / "reference"


class Integrity:
    def __init__(self, on: bool):
        self.on, self.seconds = on, 0.0

    def verified(self, part: Path) -> Path:
        data = part / "part-0.parquet"
        if not self.on:
            return data
        t0 = time.perf_counter()
        m = json.loads((part / "_manifest.json").read_text())
        if data.stat().st_size != m["bytes"]:
            sys.exit(f"{data}: size differs from its manifest")
        if sha256(data) != m["sha256"]:
            sys.exit(f"{data}: sha256 differs from its manifest")
        self.seconds += time.perf_counter() - t0
        return data


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fsync(path: Path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshots(root: Path, layer: str, name: str) -> list:
    d = root / layer / name
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        if p.name.startswith("snapshot=") and (p / "_manifest.json").exists():
            try:
                out.append(dt.date.fromisoformat(p.name[len("snapshot="):]))
            except ValueError:
                pass
    return sorted(out)


def part(root: Path, layer: str, name: str, snap: dt.date) -> Path:
    return root / layer / name / f"snapshot={snap}"


def sections() -> dict:
    out, name = {}, None
    for line in SQL.read_text().splitlines():
        if line.startswith("-- @section "):
            name = line.split()[-1]
            out[name] = []
        elif name:
            out[name].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def rel(path: Path) -> str:
    return f"read_parquet('{path}')"


EMPTY = {
    "prev_repos": "(SELECT NULL::VARCHAR AS name, NULL::BIGINT AS pull_count, "
                  "NULL::TIMESTAMPTZ AS last_updated WHERE false)",
    "prev_images": "(SELECT NULL::VARCHAR AS name, NULL::DATE AS deprecated_since, "
                   "NULL::VARCHAR AS deprecated_since_source WHERE false)",
    "scans": "(SELECT NULL::VARCHAR AS name, NULL::VARCHAR AS tag, NULL::VARCHAR AS digest, "
             "NULL::VARCHAR AS status, NULL::VARCHAR AS os_family, NULL::VARCHAR AS os_name, "
             "NULL::DATE AS eol_date, NULL::BOOLEAN AS eol_at_snapshot, NULL::BOOLEAN AS trivy_eosl, "
             "NULL::BIGINT AS total, NULL::BIGINT AS critical, NULL::BIGINT AS fixable, "
             "NULL::BIGINT AS fixable_critical, NULL::BIGINT AS fixable_high, "
             "NULL::BIGINT AS fixable_medium, NULL::BIGINT AS fixable_low, NULL::VARCHAR AS note, "
             "NULL::VARCHAR AS db_digest WHERE false)",
    "findings": "(SELECT NULL::VARCHAR AS name, NULL::VARCHAR AS tag, NULL::VARCHAR AS digest, "
                "NULL::VARCHAR AS vulnerability_id, NULL::VARCHAR AS pkg_name, "
                "NULL::VARCHAR AS installed_version, NULL::VARCHAR AS fixed_version, "
                "NULL::VARCHAR AS status, NULL::BOOLEAN AS fixable, NULL::VARCHAR AS severity, "
                "NULL::VARCHAR AS title, NULL::VARCHAR AS target, NULL::VARCHAR AS class WHERE false)",
    "pull_counts": "(SELECT NULL::VARCHAR AS name, NULL::BIGINT AS pull_count, "
                   "NULL::TIMESTAMPTZ AS captured_at WHERE false)",
}


def run_section(name: str, values: dict, threads) -> tuple:
    """Runs one section of bench/marts.sql with its placeholders filled; its last row."""
    sql = string.Template(sections()[name]).substitute(values)
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    row = con.execute(sql).fetchone()
    con.close()
    return row


def join(args, integ: Integrity) -> dict:
    root, out = Path(args.datasets), Path(args.out or args.datasets)
    d = dt.date.fromisoformat(args.snapshot)
    repos = snapshots(root, "2_staged", "repositories")
    if d not in repos:
        sys.exit(f"no repositories snapshot for {d}")
    prev = max((s for s in repos if s < d), default=None)
    scans = max((s for s in snapshots(root, "2_staged", "scans") if s <= d), default=None)
    prev_images = max((s for s in snapshots(root, "3_marts", "images") if s < d), default=None)
    # as join.rs: every pull-counts capture after the previous images snapshot, up to D
    pulls = [p for p in snapshots(root, "2_staged", "pull_counts")
             if p <= d and (prev_images is None or p > prev_images)]
    v = dict(EMPTY)
    v["repos"] = rel(integ.verified(part(root, "2_staged", "repositories", d)))
    if prev:
        v["prev_repos"] = rel(integ.verified(part(root, "2_staged", "repositories", prev)))
    if scans:
        v["scans"] = rel(integ.verified(part(root, "2_staged", "scans", scans)))
        v["findings"] = rel(integ.verified(part(root, "2_staged", "findings", scans)))
    if prev_images:
        v["prev_images"] = rel(integ.verified(part(root, "3_marts", "images", prev_images)))
    if pulls:
        files = [integ.verified(part(root, "2_staged", "pull_counts", p)) for p in pulls]
        v["pull_counts"] = "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "])"
    tmp = out / ".tmp" / f"duckdb-join-{d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    marts = ["images", "findings", "pulls", "rejects"]
    for m in marts:
        (tmp / m).mkdir(parents=True)
        v[f"out_{m}"] = str(tmp / m / "part-0.parquet")
    v.update({
        "d": str(d),
        "reference": str(REFERENCE),
        "scans_date": f"DATE '{scans}'" if scans else "NULL::DATE",
        "scans_or_d": f"DATE '{scans or d}'",
        "scans_text": str(scans or ""),
        "has_scans": "true" if scans else "false",
        "prev_date": f"DATE '{prev}'" if prev else "NULL::DATE",
    })
    images, with_scan = run_section("join", v, args.threads)
    t0 = time.perf_counter()
    for m in marts:
        publish_partition(tmp / m, part(out, "3_marts", m, d), f"marts.{m}", d, integ.on)
    integ.seconds += time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    return {"images": images, "with_scan": with_scan, "scans_snapshot": str(scans),
            "previous": str(prev)}


def publish_partition(tmp: Path, target: Path, ds_id: str, d: dt.date, integrity: bool):
    data = tmp / "part-0.parquet"
    if integrity:
        fsync(data)
        rows = duckdb.execute(f"SELECT count(*) FROM read_parquet('{data}')").fetchone()[0]
        m = {"dataset": ds_id, "snapshot": str(d), "rows": rows, "file": "part-0.parquet",
             "bytes": data.stat().st_size, "sha256": sha256(data), "schema": [],
             "source": "duckdb", "tools": [["duckdb", duckdb.__version__]],
             "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        (tmp / "_manifest.json").write_text(json.dumps(m, indent=2) + "\n")
        fsync(tmp / "_manifest.json")
        fsync(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    os.rename(tmp, target)
    if integrity:
        fsync(target.parent)


def report(args, integ: Integrity) -> dict:
    root, out = Path(args.datasets), Path(args.out or args.datasets)
    date = dt.date.fromisoformat(args.date)
    a, b = (dt.date.fromisoformat(x) for x in args.window.split(".."))
    all_images = snapshots(root, "3_marts", "images")
    used = max((s for s in all_images if s <= date), default=None)
    if used is None:
        sys.exit(f"no images mart on or before {date}")
    history = [integ.verified(part(root, "3_marts", "images", s)) for s in all_images if s <= used]
    # as read::windows: every pulls mart up to the report date (a join carries the captures
    # taken since the previous join, so the window's captures can sit in a later partition)
    pulls = [integ.verified(part(root, "3_marts", "pulls", s))
             for s in snapshots(root, "3_marts", "pulls") if s <= max(date, b)]
    lst = lambda ps: "[" + ", ".join(f"'{p}'" for p in ps) + "]"
    final = out / "4_report" / str(date)
    tmp = out / ".tmp" / f"duckdb-report-{date}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    v = {
        "images": rel(part(root, "3_marts", "images", used) / "part-0.parquet"),
        "history_files": lst(history),
        "pulls_files": lst(pulls) if pulls else "[]",
        "a": str(a), "b": str(b), "date": str(date), "images_date": str(used),
        "tolerance": str(args.tolerance), "threshold": str(args.threshold),
        "out_dir": str(tmp),
    }
    images, windows = run_section("report", v, args.threads)
    t0 = time.perf_counter()
    if integ.on:
        for p in tmp.iterdir():
            fsync(p)
        fsync(tmp)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    integ.seconds += time.perf_counter() - t0
    return {"images": images, "windows": windows, "images_snapshot": str(used)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=["join", "report"])
    p.add_argument("--datasets", required=True)
    p.add_argument("--out")
    p.add_argument("--snapshot")
    p.add_argument("--date")
    p.add_argument("--window")
    p.add_argument("--tolerance", type=int, default=2)
    p.add_argument("--threshold", type=int, default=50)
    p.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: all cores)")
    p.add_argument("--no-integrity", action="store_true")
    args = p.parse_args()
    integ = Integrity(not args.no_integrity)
    t0 = time.perf_counter()
    result = join(args, integ) if args.stage == "join" else report(args, integ)
    result.update({"seconds": round(time.perf_counter() - t0, 3),
                   "integrity_seconds": round(integ.seconds, 3)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
