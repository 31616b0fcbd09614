#!/usr/bin/env python3
"""Write a tiny, fake hubaudit dataset root for developing and testing the notebooks.

    python tests/python/make_fixture.py OUT_DIR [--drop DATASET:COLUMN] [--no-report-csv]

OUT_DIR gets `2_staged/{repositories,tags,scans,findings,pull_counts}` and
`3_marts/{images,findings,pulls,rejects}`, each as `snapshot=YYYY-MM-DD/part-0.parquet` plus
`_manifest.json` for the snapshots 2021-07-29, 2021-08-10 and 2021-08-24, the schemas of
`pipeline/catalog.rs` (timestamp[us, UTC], date32, list<string>), every row `source = "sample"`.
It also copies `datasets/reference/study-2021.toml` and writes
`4_report/2021-08-24/study_comparison.csv`. The values are invented: six images, a few
deprecated, one failing scan, one image over 50 fixable findings.

`--drop images:fixable` removes a column from every partition of a dataset (`staged.` or
`marts.` prefix optional; bare names prefer marts), to check that the notebooks fail loudly.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
STUDY_TOML = REPO / "datasets" / "reference" / "study-2021.toml"
SNAPSHOTS = [date(2021, 7, 29), date(2021, 8, 10), date(2021, 8, 24)]

TS = pa.timestamp("us", tz="UTC")
LIST = pa.list_(pa.field("item", pa.string()))
S, I, B, D = pa.string(), pa.int64(), pa.bool_(), pa.date32()


def f(name, typ, nullable=True):
    return pa.field(name, typ, nullable=nullable)


# Schemas as in pipeline/catalog.rs (names, types, nullability).
REPOSITORIES = pa.schema([
    f("name", S, False), f("namespace", S, False), f("description", S), f("full_description", S),
    f("star_count", I), f("pull_count", I), f("last_updated", TS), f("date_registered", TS),
    f("status", S), f("deprecated", B, False), f("deprecation_targets", LIST, False),
    f("deprecation_alternatives", LIST, False), f("deprecation_link", S), f("notice_text", S),
    f("source", S, False), f("captured_at", TS, False), f("detail_captured_at", TS),
    f("carried_forward", B, False),
])
TAGS = pa.schema([
    f("repository", S, False), f("tag", S, False), f("digest", S), f("os", S), f("architecture", S),
    f("variant", S), f("size", I), f("full_size", I), f("last_updated", TS), f("last_pulled", TS),
    f("last_pushed", TS), f("tag_status", S), f("source", S, False), f("captured_at", TS, False),
    f("carried_forward", B, False),
])
SEVERITIES = ["critical", "high", "medium", "low", "unknown"]
SCANS = pa.schema(
    [f("name", S, False), f("tag", S), f("tag_reason", S, False), f("digest", S), f("image_ref", S),
     f("analysis", S, False), f("os_family", S), f("os_name", S), f("eol_date", D),
     f("eol_at_snapshot", B), f("trivy_eosl", B), f("total", I)]
    + [f(s, I) for s in SEVERITIES]
    + [f("fixable", I)] + [f(f"fixable_{s}", I) for s in SEVERITIES]
    + [f("status", S, False), f("error", S), f("duration_ms", I), f("trivy_version", S),
       f("db_updated_at", TS), f("note", S), f("source", S, False)]
)
FINDINGS = pa.schema([
    f("name", S, False), f("tag", S), f("digest", S), f("vulnerability_id", S, False),
    f("pkg_name", S, False), f("installed_version", S, False), f("fixed_version", S),
    f("status", S, False), f("fixable", B, False), f("severity", S, False), f("title", S),
    f("target", S, False), f("class", S),
])
PULL_COUNTS = pa.schema([
    f("name", S, False), f("namespace", S, False), f("pull_count", I), f("star_count", I),
    f("last_updated", TS), f("captured_at", TS, False), f("source", S, False),
])
IMAGES = pa.schema([
    f("name", S, False), f("namespace", S, False), f("description", S), f("source", S, False),
    f("star_count", I), f("pull_count", I), f("last_updated", TS), f("last_updated_changed", B),
    f("date_registered", TS), f("deprecated", B, False), f("deprecated_since", D),
    f("deprecated_since_source", S), f("deprecation_targets", LIST, False),
    f("deprecation_alternatives", LIST, False), f("scans_snapshot", D), f("tag", S),
    f("digest", S), f("scan_status", S), f("os_family", S), f("os_name", S), f("eol_date", D),
    f("eol_at_snapshot", B), f("trivy_eosl", B), f("total", I), f("fixable", I),
    f("fixable_critical", I), f("fixable_high", I), f("fixable_medium", I), f("fixable_low", I),
    f("previous_snapshot", D), f("downloads_since_previous", I), f("downloads_flags", S),
])
FINDINGS_MART = pa.schema(list(FINDINGS) + [
    f("deprecated", B, False), f("os_family", S), f("os_name", S), f("eol_at_snapshot", B),
    f("scans_snapshot", D, False),
])
PULLS = pa.schema([
    f("name", S, False), f("pull_count", I), f("captured_at", TS, False), f("read_from", S, False),
])
REJECTS = pa.schema([f("table", S, False), f("name", S, False), f("reason", S, False)])


def utc(d: date, hour=12, minute=0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=timezone.utc)


# The fake world: one dict per image; per-snapshot values are lists indexed like SNAPSHOTS.
WORLD = [
    dict(name="nginx", desc="Official build of Nginx.", stars=15000,
         pulls=[1_000_000_000, 1_040_000_000, 1_090_000_000],
         updated=[date(2021, 7, 20), date(2021, 8, 5), date(2021, 8, 20)],
         os=("debian", "10.10", date(2024, 6, 30)), fixable=[12, 14, 9], failed=[]),
    dict(name="python", desc="Python is an interpreted language.", stars=7000,
         pulls=[900_000_000, 930_000_000, 0],  # a reset to 0 at the last capture
         updated=[date(2021, 7, 28), date(2021, 8, 9), date(2021, 8, 23)],
         os=("debian", "10.10", date(2024, 6, 30)), fixable=[30, 35, 41], failed=[]),
    dict(name="java", desc="DEPRECATED; use openjdk.", stars=2000,
         pulls=[250_000_000, 250_100_000, 250_150_000],
         updated=[date(2017, 1, 1)] * 3, deprecated=(date(2016, 12, 31), ["openjdk"], [], None),
         os=("debian", "8.11", date(2020, 6, 30)), fixable=[140, 140, 140], failed=[]),
    dict(name="sentry", desc="DEPRECATED; use getsentry/onpremise.", stars=900,
         pulls=[90_000_000, 90_500_000, 91_000_000],
         updated=[date(2021, 7, 1), date(2021, 8, 1), date(2021, 8, 15)],  # stale but moving
         deprecated=(date(2021, 6, 1), [], [], "https://develop.sentry.dev/self-hosted/"),
         os=("debian", "10.10", date(2024, 6, 30)), fixable=[60, 62, 20], failed=[]),
    dict(name="nuxeo", desc="Nuxeo content platform.", stars=80,
         pulls=[10_000_000, 10_020_000, 10_050_000],
         updated=[date(2021, 7, 1)] * 3,
         os=("centos", "7.9.2009", date(2024, 6, 30)), fixable=[186, 187, 101], failed=[1]),
    dict(name="centos", desc="The official build of CentOS.", stars=6000,
         pulls=[2_147_483_647, 2_147_483_647, 2_147_483_647],  # capped
         updated=[date(2020, 11, 13)] * 3,
         os=("centos", "8.4.2105", date(2021, 12, 31)), fixable=[86, 86, 86], failed=[2]),
]


def repositories(i: int, snap: date) -> list[dict]:
    rows = []
    for img in WORLD:
        dep = img.get("deprecated")
        upd = utc(img["updated"][i], 8)
        rows.append(dict(
            name=img["name"], namespace="library", description=img["desc"],
            full_description=f"# {img['name']}\n\nSYNTHETIC sample README.",
            star_count=img["stars"], pull_count=img["pulls"][i], last_updated=upd,
            date_registered=utc(date(2014, 6, 5)), status="active",
            deprecated=dep is not None, deprecation_targets=dep[1] if dep else [],
            deprecation_alternatives=dep[2] if dep else [],
            deprecation_link=dep[3] if dep else None,
            notice_text="# DEPRECATION NOTICE\n\nSample." if dep else None,
            source="sample", captured_at=utc(snap), detail_captured_at=utc(snap, 12, 5),
            carried_forward=i > 0 and img["updated"][i] == img["updated"][i - 1],
        ))
    return rows


def tags(i: int, snap: date) -> list[dict]:
    rows = []
    for img in WORLD:
        for arch in ["amd64", "arm64"]:
            rows.append(dict(
                repository=img["name"], tag="latest",
                digest=f"sha256:{img['name']}-{arch}-{i}", os="linux", architecture=arch,
                variant="v8" if arch == "arm64" else None, size=50_000_000, full_size=51_000_000,
                last_updated=utc(img["updated"][i], 8), last_pulled=utc(snap, 11),
                last_pushed=utc(img["updated"][i], 8), tag_status="active", source="sample",
                captured_at=utc(snap), carried_forward=False,
            ))
    return rows


def scan_counts(fixable: int) -> dict:
    counts = {}
    split = [0.1, 0.3, 0.4, 0.2, 0.0]
    fix = [round(fixable * s) for s in split]
    fix[2] += fixable - sum(fix)
    for s, n in zip(SEVERITIES, fix):
        counts[f"fixable_{s}"] = n
        counts[s] = n + 2
    counts["fixable"] = fixable
    counts["total"] = sum(counts[s] for s in SEVERITIES)
    return counts


def scans(i: int, snap: date) -> list[dict]:
    rows = []
    for img in WORLD:
        fam, osn, eol = img["os"]
        failed = i in img["failed"]
        base = dict(
            name=img["name"], tag="latest", tag_reason="latest",
            digest=f"sha256:{img['name']}-amd64-{i}",
            image_ref=f"docker.io/library/{img['name']}:latest",
            analysis="none" if failed else "image", trivy_version="0.76.0",
            db_updated_at=utc(snap, 6), note="synthetic sample", source="sample",
            duration_ms=1234,
        )
        if failed:
            base.update(status="failed", error="FATAL image scan error (sample)",
                        os_family=None, os_name=None, eol_date=None, eol_at_snapshot=None,
                        trivy_eosl=None)
        else:
            base.update(status="ok", error=None, os_family=fam, os_name=osn, eol_date=eol,
                        eol_at_snapshot=snap >= eol, trivy_eosl=snap >= eol,
                        **scan_counts(img["fixable"][i]))
        rows.append(base)
    return rows


def findings(i: int, snap: date) -> list[dict]:
    rows = []
    for img in WORLD:
        if i in img["failed"]:
            continue
        n = min(img["fixable"][i], 3)
        for k in range(n + 1):  # n fixable findings and one unfixed
            fixable = k < n
            rows.append({
                "name": img["name"], "tag": "latest", "digest": f"sha256:{img['name']}-amd64-{i}",
                "vulnerability_id": f"CVE-2021-{1000 + k}", "pkg_name": f"libsample{k}",
                "installed_version": "1.0-1", "fixed_version": "1.0-2" if fixable else None,
                "status": "fixed" if fixable else "affected", "fixable": fixable,
                "severity": ["CRITICAL", "HIGH", "MEDIUM", "LOW"][k % 4],
                "title": f"sample vulnerability {k}",
                "target": f"library/{img['name']} ({img['os'][0]})", "class": "os-pkgs",
            })
    return rows


def pull_counts(i: int, snap: date) -> list[dict]:
    return [dict(name=img["name"], namespace="library", pull_count=img["pulls"][i],
                 star_count=img["stars"], last_updated=utc(img["updated"][i], 8),
                 captured_at=utc(snap, 18), source="sample") for img in WORLD]


def last_ok_scan(img: dict, i: int) -> int | None:
    for j in range(i, -1, -1):
        if j not in img["failed"]:
            return j
    return None


def images(i: int, snap: date) -> list[dict]:
    rows = []
    for img in WORLD:
        dep = img.get("deprecated")
        fam, osn, eol = img["os"]
        failed = i in img["failed"]
        j = last_ok_scan(img, i)  # the mart keeps the latest good scan
        counts = scan_counts(img["fixable"][j]) if j is not None else {}
        prev = SNAPSHOTS[i - 1] if i > 0 else None
        flags, downloads = [], None
        if prev is None:
            flags.append("missing")
        else:
            a, b = img["pulls"][i - 1], img["pulls"][i]
            if 2_147_483_647 in (a, b):
                flags.append("capped")
            elif b < a:
                flags.append("reset")
            else:
                downloads = b - a
            flags.append("approximate")
        rows.append(dict(
            name=img["name"], namespace="library", description=img["desc"], source="sample",
            star_count=img["stars"], pull_count=img["pulls"][i],
            last_updated=utc(img["updated"][i], 8),
            last_updated_changed=None if i == 0 else img["updated"][i] != img["updated"][i - 1],
            date_registered=utc(date(2014, 6, 5)), deprecated=dep is not None,
            deprecated_since=dep[0] if dep else None,
            deprecated_since_source="docs-history" if dep else None,
            deprecation_targets=dep[1] if dep else [], deprecation_alternatives=dep[2] if dep else [],
            scans_snapshot=SNAPSHOTS[j] if j is not None else None, tag="latest",
            digest=f"sha256:{img['name']}-amd64-{i}", scan_status="failed" if failed else "ok",
            os_family=fam, os_name=osn, eol_date=eol, eol_at_snapshot=snap >= eol,
            trivy_eosl=snap >= eol, total=counts.get("total"), fixable=counts.get("fixable"),
            fixable_critical=counts.get("fixable_critical"), fixable_high=counts.get("fixable_high"),
            fixable_medium=counts.get("fixable_medium"), fixable_low=counts.get("fixable_low"),
            previous_snapshot=prev, downloads_since_previous=downloads,
            downloads_flags=";".join(flags),
        ))
    return rows


def findings_mart(i: int, snap: date) -> list[dict]:
    rows = []
    by_name = {img["name"]: img for img in WORLD}
    for r in findings(i, snap):
        img = by_name[r["name"]]
        fam, osn, eol = img["os"]
        rows.append(dict(r, deprecated="deprecated" in img, os_family=fam, os_name=osn,
                         eol_at_snapshot=snap >= eol, scans_snapshot=snap))
    return rows


def pulls(i: int, snap: date) -> list[dict]:
    out = []
    for img in WORLD:
        out.append(dict(name=img["name"], pull_count=img["pulls"][i], captured_at=utc(snap),
                        read_from="extract_hub"))
        out.append(dict(name=img["name"], pull_count=img["pulls"][i],
                        captured_at=utc(snap, 18), read_from="pull_counts"))
    return out


def rejects(i: int, snap: date) -> list[dict]:
    # The first snapshot has no rejects: an empty partition must read as well.
    if i == 0:
        return []
    return [dict(table="scans", name="nuxeo", reason="sample: scan failed, older scan kept")]


DATASETS = {
    ("2_staged", "repositories"): (REPOSITORIES, repositories),
    ("2_staged", "tags"): (TAGS, tags),
    ("2_staged", "scans"): (SCANS, scans),
    ("2_staged", "findings"): (FINDINGS, findings),
    ("2_staged", "pull_counts"): (PULL_COUNTS, pull_counts),
    ("3_marts", "images"): (IMAGES, images),
    ("3_marts", "findings"): (FINDINGS_MART, findings_mart),
    ("3_marts", "pulls"): (PULLS, pulls),
    ("3_marts", "rejects"): (REJECTS, rejects),
}

STUDY_COMPARISON = [
    ("images_listed", "167", "6", "differs", "sample world: six synthetic images"),
    ("deprecated", "14", "2", "differs", "sample world"),
    ("vulnerable_over_50", "4", "2", "differs", "sample world"),
]


def parse_drop(spec: str) -> tuple[tuple[str, str], str]:
    ds, _, col = spec.partition(":")
    layer = {"staged": "2_staged", "marts": "3_marts"}
    if "." in ds:
        prefix, name = ds.split(".", 1)
        key = (layer.get(prefix, prefix), name)
    else:
        key = ("3_marts", ds) if ("3_marts", ds) in DATASETS else ("2_staged", ds)
    if key not in DATASETS or not col:
        sys.exit(f"--drop {spec}: expected DATASET:COLUMN with DATASET one of "
                 + ", ".join(f"{k[0]}/{k[1]}" for k in DATASETS))
    if col not in DATASETS[key][0].names:
        sys.exit(f"--drop {spec}: no column {col!r} in {key[0]}/{key[1]}")
    return key, col


def write(root: Path, drop: list[tuple[tuple[str, str], str]], report_csv: bool) -> None:
    for (layer, name), (schema, rows_of) in DATASETS.items():
        dropped = [col for key, col in drop if key == (layer, name)]
        for i, snap in enumerate(SNAPSHOTS):
            table = pa.Table.from_pylist(rows_of(i, snap), schema=schema)
            if dropped:
                table = table.drop_columns(dropped)
            part = root / layer / name / f"snapshot={snap.isoformat()}"
            part.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, part / "part-0.parquet")
            manifest = {
                "dataset": f"{layer.split('_', 1)[1]}.{name}", "snapshot": snap.isoformat(),
                "rows": table.num_rows, "file": "part-0.parquet",
                "schema": [[fld.name, str(fld.type)] for fld in table.schema],
                "note": "fixture written by tests/python/make_fixture.py",
            }
            (part / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    ref = root / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STUDY_TOML, ref / "study-2021.toml")
    if report_csv:
        report = root / "4_report" / SNAPSHOTS[-1].isoformat()
        report.mkdir(parents=True, exist_ok=True)
        with open(report / "study_comparison.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["metric", "study", "ours", "verdict", "reason"])
            w.writerows(STUDY_COMPARISON)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder to create (must be empty or absent)")
    ap.add_argument("--drop", action="append", default=[], metavar="DATASET:COLUMN",
                    help="remove a column from a dataset, e.g. images:fixable (repeatable)")
    ap.add_argument("--no-report-csv", action="store_true",
                    help="do not write 4_report/2021-08-24/study_comparison.csv")
    args = ap.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"{args.out}: exists and is not empty")
    drop = [parse_drop(spec) for spec in args.drop]
    write(args.out, drop, not args.no_report_csv)
    print(f"fixture: {len(DATASETS)} datasets x {len(SNAPSHOTS)} snapshots in {args.out}"
          + (f" (dropped {', '.join(args.drop)})" if drop else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
