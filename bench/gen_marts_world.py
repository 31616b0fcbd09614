#!/usr/bin/env python3
"""Generates a synthetic world of staged datasets for the marts benchmark (issue 10).

    gen_marts_world.py --images N --out DIR [--findings-per-image 300] [--seed S]
                       [--snapshots 2021-08-10,2021-08-24] [--days 365] [--source bench]

Writes, under DIR/2_staged/, partitions exactly as hubaudit's stages write them
(`NAME/snapshot=YYYY-MM-DD/part-0.parquet` and `_manifest.json` with the file's size and
sha256, the schema as [name, Arrow type] pairs in arrow-rs's Display form, zstd level 3):

- repositories and tags for each snapshot (N rows each: between the two snapshots N/200
  images are added and as many retired, 30% change last_updated, 8% are deprecated);
- scans and findings for each snapshot (one scan row per repository: ~98.5% ok, 1% failed,
  0.5% no_tag; ~F findings per ok image on average, gamma-distributed; counts by severity
  agree with the findings; fixable = fixed_version present);
- pull_counts for every day of the DAYS days ending on the last snapshot (N rows each: the
  last snapshot's names; a few null counts, a few images capped at 2147483647 before 2021-01,
  reset between the last two snapshots), consistent with the repositories' pull_count on
  snapshot dates. Note: hubaudit's join reads only the pull_counts partition of the snapshot
  it joins, and the report only the pulls marts join wrote, so of the year only the snapshot
  dates reach a report (a window starting before the first snapshot is `missing` throughout).

The catalog schemas are copied from pipeline/catalog.rs; if it changes, change SCHEMAS here.
Everything is drawn from one numpy Generator (seeded), so equal arguments give equal rows
(the manifests' created_at differs). A partition is written to DIR/.tmp and renamed into
place, like hubaudit does. DIR/.gen-params records the arguments (the benchmark reuses
a folder whose parameters match).

Source: the rows say `source = "bench"` by default (the schema takes any text). hubaudit's
report shows its "synthetic sample world" banner only for `sample`, which this is not.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

GEN_VERSION = "3"  # 3: row groups of 128k rows, as hubaudit writes
UTC = dt.timezone.utc
TS = pa.timestamp("us", tz="UTC")
LIST = pa.list_(pa.field("item", pa.string(), True))
S, I, B, D = pa.string(), pa.int64(), pa.bool_(), pa.date32()


def f(name, typ, nullable=True):
    return pa.field(name, typ, nullable)


def scans_fields():
    fields = [
        f("name", S, False), f("tag", S), f("tag_reason", S, False), f("digest", S),
        f("image_ref", S), f("analysis", S, False), f("os_family", S), f("os_name", S),
        f("eol_date", D), f("eol_at_snapshot", B), f("trivy_eosl", B),
    ]
    for prefix in ["", "fixable_"]:
        for sev in ["total", "critical", "high", "medium", "low", "unknown"]:
            name = f"{prefix}{sev}" if (not prefix or sev != "total") else "fixable"
            fields.append(f(name, I))
    fields += [
        f("status", S, False), f("error", S), f("duration_ms", I), f("trivy_version", S),
        f("db_updated_at", TS), f("db_digest", S), f("layers_analysed", I), f("note", S),
        f("source", S, False),
    ]
    return fields


# (dataset id, folder under 2_staged, schema): pipeline/catalog.rs
SCHEMAS = {
    "repositories": ("staged.repositories", pa.schema([
        f("name", S, False), f("namespace", S, False), f("description", S),
        f("full_description", S), f("star_count", I), f("pull_count", I),
        f("last_updated", TS), f("date_registered", TS), f("status", S),
        f("deprecated", B, False), f("deprecated_since", D),
        f("deprecation_targets", LIST, False), f("deprecation_alternatives", LIST, False),
        f("deprecation_link", S), f("notice_text", S), f("source", S, False),
        f("captured_at", TS, False), f("detail_captured_at", TS),
        f("carried_forward", B, False),
    ])),
    "tags": ("staged.tags", pa.schema([
        f("repository", S, False), f("tag", S, False), f("digest", S), f("os", S),
        f("architecture", S), f("variant", S), f("size", I), f("full_size", I),
        f("last_updated", TS), f("last_pulled", TS), f("last_pushed", TS),
        f("tag_status", S), f("source", S, False), f("captured_at", TS, False),
        f("carried_forward", B, False),
    ])),
    "scans": ("staged.scans", pa.schema(scans_fields())),
    "findings": ("staged.findings", pa.schema([
        f("name", S, False), f("tag", S), f("digest", S), f("vulnerability_id", S, False),
        f("pkg_name", S, False), f("installed_version", S, False), f("fixed_version", S),
        f("status", S, False), f("fixable", B, False), f("severity", S, False),
        f("title", S), f("target", S, False), f("class", S),
    ])),
    "pull_counts": ("staged.pull_counts", pa.schema([
        f("name", S, False), f("namespace", S, False), f("pull_count", I),
        f("star_count", I), f("last_updated", TS), f("captured_at", TS, False),
        f("source", S, False),
    ])),
}


def rust_type(t: pa.DataType) -> str:
    """The arrow-rs `Display` of a DataType, as hubaudit writes it in a manifest's schema."""
    if t == S:
        return "Utf8"
    if t == I:
        return "Int64"
    if t == B:
        return "Boolean"
    if t == D:
        return "Date32"
    if t == TS:
        return 'Timestamp(µs, "UTC")'
    if t == LIST:
        return "List(Utf8)"
    raise ValueError(f"no arrow-rs name for {t}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def write_partition(root: Path, name: str, snapshot: dt.date, table: pa.Table, source: str,
                    tools: list) -> int:
    """Writes 2_staged/NAME/snapshot=D/ as partition.rs does: data file, then the manifest,
    in a folder under .tmp renamed into place. Returns the data file's bytes."""
    ds_id, schema = SCHEMAS[name]
    table = table.select(schema.names).cast(schema)
    tmp = root / ".tmp" / f"{ds_id}-{snapshot}-{os.getpid()}-{time.time_ns()}"
    tmp.mkdir(parents=True)
    data = tmp / "part-0.parquet"
    # hubaudit's writer (pipeline/io/parquet.rs): zstd level 3, arrow-rs defaults otherwise
    # (dictionary on, statistics on, row groups of 1Mi rows, 1 MiB data pages).
    pq.write_table(table, data, compression="zstd", compression_level=3,
                   row_group_size=ROW_GROUP_ROWS, use_dictionary=True, write_statistics=True)
    nbytes = data.stat().st_size
    manifest = {
        "dataset": ds_id,
        "snapshot": snapshot.isoformat(),
        "rows": table.num_rows,
        "file": "part-0.parquet",
        "bytes": nbytes,
        "sha256": sha256_file(data),
        "schema": [[fl.name, rust_type(fl.type)] for fl in schema],
        "source": source,
        "tools": tools,
        "created_at": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (tmp / "_manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    target = root / "2_staged" / name / f"snapshot={snapshot}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    os.rename(tmp, target)
    return nbytes


def micros(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def day_micros(d: dt.date, seconds: float = 0.0) -> int:
    return micros(dt.datetime(d.year, d.month, d.day, tzinfo=UTC)) + int(seconds * 1e6)


def ts_array(values, mask=None) -> pa.Array:
    """Int64 microseconds (numpy) → Timestamp(us, UTC) array (mask: True = null)."""
    arr = pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask)
    return arr.cast(TS)


def date_array(days, mask=None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32(), mask=mask).cast(D)


def hex_digests(rng, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    h = raw.tobytes().hex()
    return np.array(["sha256:" + h[i * 64:(i + 1) * 64] for i in range(n)], dtype=object)


def load_eol(repo_root: Path) -> dict:
    eol = {}
    path = repo_root / "datasets" / "reference" / "eol.csv"
    for line in path.read_text().splitlines()[1:]:
        fam, rel, date = line.split(",")[:3]
        eol[(fam, rel)] = dt.date.fromisoformat(date)
    return eol


def release_key(family: str, name: str) -> str:
    parts = name.split(".")
    if family == "alpine":
        return ".".join(parts[:2])
    if family == "ubuntu":
        return name
    return parts[0]


OS_CHOICES = {
    "debian": (0.55, ["10.10", "9.13", "11.0", "8.11", "10.9"]),
    "alpine": (0.28, ["3.14.1", "3.13.5", "3.12.7", "3.10.9", "3.9.6"]),
    "ubuntu": (0.12, ["20.04", "18.04", "16.04"]),
    "centos": (0.05, ["7.9.2009", "8.4.2105", "6.10"]),
}
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
SEV_P = [0.05, 0.2, 0.4, 0.3, 0.05]
WORDS = ("buffer overflow heap use-after-free integer out-of-bounds read write denial of "
         "service null pointer dereference crafted input remote attacker memory leak "
         "certificate validation bypass race condition privilege escalation infinite loop "
         "in parsing of malformed packets via a long string function handler").split()
README = (
    "# Quick reference\n\n- **Maintained by**: [the {n} community](https://example.org/{n})\n"
    "- **Where to get help**: the Docker Community Slack, Server Fault, Unix & Linux, or "
    "Stack Overflow\n\n# Supported tags and respective `Dockerfile` links\n\n"
    "- [`{v}`, `{v}-bullseye`, `latest`](https://example.org/{n}/blob/{v}/Dockerfile)\n"
    "- [`{w}`, `{w}-buster`](https://example.org/{n}/blob/{w}/Dockerfile)\n\n"
    "# What is {n}?\n\n{n} is a synthetic image of hubaudit's benchmark world. {body}\n\n"
    "# How to use this image\n\n```console\n$ docker run --name some-{n} -d {n}:{v}\n```\n\n"
    "## Environment Variables\n\n### `{N}_PASSWORD`\n\nThis environment variable is required "
    "for you to use the {n} image. It must not be empty or undefined.\n\n# License\n\n"
    "View [license information](https://example.org/{n}/LICENSE) for the software contained "
    "in this image. As with all Docker images, these likely also contain other software which "
    "may be under other licenses (such as Bash, etc from the base distribution, along with any "
    "direct or indirect dependencies of the primary software being contained).\n"
)


class World:
    """Every random draw of the world, made once from the seed."""

    def __init__(self, n: int, findings_per_image: int, seed: int, snapshots: list, days: int,
                 source: str, repo_root: Path):
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.n, self.fpi, self.source = n, findings_per_image, source
        self.snapshots, self.days = snapshots, days
        self.eol = load_eol(repo_root)
        rng = self.rng
        k = max(1, n // 200)  # added between the first and the last snapshot, and retired
        self.names = np.array([f"img-{i:05d}" for i in range(1, n + 1)]
                              + [f"img-r{i:04d}" for i in range(1, k + 1)], dtype=object)
        u = len(self.names)
        self.u = u
        # which universe rows are in each snapshot (the first loses the k newest, keeps the k
        # retired; the others are the N current names)
        self.members = {}
        for j, snap in enumerate(snapshots):
            m = np.zeros(u, dtype=bool)
            if j == len(snapshots) - 1:
                m[:n] = True
            else:
                m[: n - k] = True
                m[n:] = True
            self.members[snap] = m
        # OS of each image
        fams = list(OS_CHOICES)
        self.family = rng.choice(len(fams), size=u, p=[OS_CHOICES[x][0] for x in fams])
        self.family_names = fams
        self.os_name = np.array([rng.choice(OS_CHOICES[fams[fi]][1]) for fi in self.family],
                                dtype=object)
        # deprecation: 8% at the last snapshot, 1 in 8 of those only since it
        self.deprecated_last = rng.random(u) < 0.08
        self.deprecated_first = self.deprecated_last & (rng.random(u) < 0.875)
        self.since_known = self.deprecated_last & (rng.random(u) < 0.25)
        self.since_days = rng.integers(day_num(dt.date(2016, 1, 1)), day_num(dt.date(2021, 6, 1)),
                                       size=u)
        self.kind = rng.random(u)  # <0.85 targets, <0.95 alternatives, else link
        live = np.flatnonzero(~self.deprecated_last[:n])
        self.targets = [list(self.names[rng.choice(live, size=int(rng.integers(1, 3)),
                                                   replace=False)]) for _ in range(u)]
        self.stars = np.round(rng.lognormal(4.5, 1.8, size=u)).astype(np.int64)
        self.registered = rng.integers(micros(dt.datetime(2014, 6, 1, tzinfo=UTC)),
                                       micros(dt.datetime(2020, 12, 1, tzinfo=UTC)), size=u)
        # last_updated per snapshot: the first in 2021-01..the day before; each later one
        # changes for 30% (5% of deprecated images) to a time since the previous snapshot
        self.updated = {}
        prev = None
        for snap in snapshots:
            hi = day_micros(snap) - 3600 * 1_000_000
            if prev is None:
                lo = micros(dt.datetime(2021, 1, 1, tzinfo=UTC))
                self.updated[snap] = rng.integers(lo, hi, size=u)
            else:
                p = np.where(self.deprecated_last, 0.05, 0.30)
                change = rng.random(u) < p
                new = rng.integers(day_micros(prev), hi, size=u)
                self.updated[snap] = np.where(change, new, self.updated[prev])
            prev = snap
        # tags: 1-3 per image; `latest` for 90%; an arm64 row for 40% of tags
        self.has_latest = rng.random(u) < 0.9
        self.ntags = rng.integers(1, 4, size=u)
        # pulls: a daily series for every image over the days ending on the last snapshot
        self.last = snapshots[-1]
        self.first_day = self.last - dt.timedelta(days=days - 1)
        span = max(days, (self.last - min(snapshots)).days + 1)
        self.pull_days = [self.last - dt.timedelta(days=span - 1 - i) for i in range(span)]
        base = np.round(rng.lognormal(13, 2.2, size=u)).astype(np.int64)
        rate = np.maximum(1, (base / rng.uniform(300, 3000, size=u))).astype(np.float64)
        incr = rng.poisson(rate[:, None] * rng.uniform(0.6, 1.4, size=(u, span)))
        self.pulls = base[:, None] + np.cumsum(incr, axis=1)
        capped = rng.random(u) < 0.003  # the Hub's int32 cap, before 2021-01
        cap_until = sum(1 for d in self.pull_days if d < dt.date(2021, 1, 1))
        self.pulls[capped, :cap_until] = 2_147_483_647
        # one image in 500 whose count went down (a reset) on a day between the last two
        # snapshots, so the report's window between them flags it
        reset = rng.random(u) < 0.002
        if len(snapshots) > 1:
            day = self.pull_days.index(snapshots[-1]) - (snapshots[-1] - snapshots[-2]).days // 2
        else:
            day = span // 2
        self.pulls[reset, day:] -= self.pulls[reset, day:day + 1] // 2
        self.pull_null = rng.random((u, span)) < 0.0005
        # scans: status per snapshot
        self.scan_roll = {snap: rng.random(u) for snap in snapshots}
        self.nfind = {snap: np.minimum(np.round(rng.gamma(1.5, findings_per_image / 1.5, size=u)),
                                       5 * findings_per_image).astype(np.int64)
                      for snap in snapshots}
        self.has_lang = rng.random(u) < 0.12
        # an image's digest changes with its last_updated (else the scan rescans its inventory)
        self.digests = {}
        for j, snap in enumerate(snapshots):
            fresh = hex_digests(rng, u)
            if j:
                prev = snapshots[j - 1]
                same = self.updated[snap] == self.updated[prev]
                fresh = np.where(same, self.digests[prev], fresh)
            self.digests[snap] = fresh
        self.db_digest = {snap: hex_digests(rng, 1)[0] for snap in snapshots}
        self._pool()

    def _pool(self):
        """Vulnerability pools: 6000 per OS family (os-pkgs) and 2000 language ones."""
        rng = self.rng
        rows = {k: [] for k in ["id", "pkg", "inst", "fixed", "status", "sev", "title",
                                "target", "cls"]}
        self.pool_of_family = []
        start = 0
        for fam in self.family_names + ["lang"]:
            size = 2000 if fam == "lang" else 6000
            pkgs = [f"{'lib' if rng.random() < 0.5 else ''}{rng.choice(WORDS)}{j}"
                    for j in range(size // 8)]
            pkg_idx = rng.integers(0, len(pkgs), size=size)
            fixed = rng.random(size) < 0.6
            sev = rng.choice(5, size=size, p=SEV_P)
            for j in range(size):
                pkg = pkgs[pkg_idx[j]]
                ver = f"{rng.integers(0, 9)}.{rng.integers(0, 30)}.{rng.integers(0, 20)}-{rng.integers(1, 9)}"
                rows["id"].append(f"CVE-{rng.integers(2005, 2022)}-{rng.integers(1000, 45000)}"
                                  if fam != "lang" or j % 3 else
                                  f"GHSA-{rng.integers(1000, 9999):04x}-{j:04x}-{start:04x}")
                rows["pkg"].append(pkg)
                rows["inst"].append(ver)
                rows["fixed"].append(ver + "+deb10u1" if fixed[j] else None)
                rows["status"].append("fixed" if fixed[j] else
                                      ("affected", "will_not_fix", "fix_deferred")[j % 3])
                rows["sev"].append(SEVERITIES[sev[j]])
                rows["title"].append(None if j % 97 == 0 else
                                     f"{pkg}: " + " ".join(rng.choice(WORDS, size=int(rng.integers(5, 14)))))
                rows["target"].append(f"usr/local/lib/app/{pkg}.jar" if fam == "lang" else "")
                rows["cls"].append("lang-pkgs" if fam == "lang" else "os-pkgs")
            self.pool_of_family.append((start, size))
            start += size
        self.pool = {k: pa.array(v, type=pa.string()) for k, v in rows.items()}
        self.pool_sev = np.array([SEVERITIES.index(s) + 1 for s in rows["sev"]])
        self.pool_fixable = np.array([x is not None for x in rows["fixed"]])
        # the order the scan stage stores an image's findings in (Finding::sort): class, target,
        # package, installed version, id; within one image the OS target is one value
        keys = list(zip(rows["cls"], rows["target"], rows["pkg"], rows["inst"], rows["id"],
                        [x or "" for x in rows["fixed"]], rows["status"], rows["sev"],
                        [x or "" for x in rows["title"]]))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.pool_rank = np.empty(len(keys), dtype=np.int64)
        self.pool_rank[order] = np.arange(len(keys))

    # ---- tables -------------------------------------------------------------------------

    def repositories(self, j: int) -> pa.Table:
        snap = self.snapshots[j]
        idx = np.flatnonzero(self.members[snap])
        idx = idx[np.argsort(self.names[idx], kind="stable")]
        names = self.names[idx]
        captured = day_micros(snap, 4 * 3600)
        dep = (self.deprecated_last if j == len(self.snapshots) - 1 else self.deprecated_first)[idx]
        kind = self.kind[idx]
        targets = [self.targets[i] if d and k < 0.85 else [] for i, d, k in zip(idx, dep, kind)]
        alts = [self.targets[i] + ["debian"] if d and 0.85 <= k < 0.95 else []
                for i, d, k in zip(idx, dep, kind)]
        link = [f"https://example.org/{n}-moved" if d and k >= 0.95 else None
                for n, d, k in zip(names, dep, kind)]
        def notice_of(ts, a, l):
            if ts:
                return " in favour of " + ", ".join(f"`{t}`" for t in ts) + "."
            if a:
                return "; consider one of " + ", ".join(f"`{x}`" for x in a) + "."
            return f"; see {l}."
        notice = [None if not d else
                  "# **DEPRECATION NOTICE**\n\nThis image is deprecated" + notice_of(ts, a, l)
                  for d, ts, a, l in zip(dep, targets, alts, link)]
        readme = [README.format(n=n, N=n.upper().replace("-", "_"), v=f"{(i % 9) + 1}.{i % 13}",
                                w=f"{(i % 9) + 1}.{(i % 13) + 1}",
                                body=" ".join(WORDS[(i + x) % len(WORDS)] for x in range(40 + i % 60)))
                  + ("\n" + nt if nt else "")
                  for n, i, nt in zip(names, idx, notice)]
        since_known = self.since_known[idx] & dep
        pulls = self.pull_at(snap, idx, hour=4)
        upd = self.updated[snap][idx]
        carried = np.zeros(len(idx), dtype=bool)
        detail = np.full(len(idx), captured + 60 * 1_000_000)
        if j > 0:
            prev = self.snapshots[j - 1]
            was = self.members[prev][idx]
            carried = was & (upd == self.updated[prev][idx])
            detail = np.where(carried, day_micros(prev, 4 * 3600 + 60), detail)
        return pa.table({
            "name": pa.array(names, type=S),
            "namespace": pa.array(["library"] * len(idx), type=S),
            "description": pa.array([f"{n}: synthetic image of hubaudit's benchmark world"
                                     for n in names], type=S),
            "full_description": pa.array(readme, type=S),
            "star_count": pa.array(self.stars[idx], type=I),
            "pull_count": pulls,
            "last_updated": ts_array(upd),
            "date_registered": ts_array(self.registered[idx]),
            "status": pa.array(["active"] * len(idx), type=S),
            "deprecated": pa.array(dep, type=B),
            "deprecated_since": date_array(self.since_days[idx], mask=~since_known),
            "deprecation_targets": pa.array(targets, type=LIST),
            "deprecation_alternatives": pa.array(alts, type=LIST),
            "deprecation_link": pa.array(link, type=S),
            "notice_text": pa.array(notice, type=S),
            "source": pa.array([self.source] * len(idx), type=S),
            "captured_at": ts_array(np.full(len(idx), captured)),
            "detail_captured_at": ts_array(detail),
            "carried_forward": pa.array(carried, type=B),
        })

    def pull_at(self, day: dt.date, idx, hour: int) -> pa.Array:
        col = self.pull_days.index(day)
        v = self.pulls[idx, col]
        # extract-hub reads a little earlier in the day than pull-counts: a bit fewer pulls
        if hour < 6:
            v = np.where(v >= 2_147_483_647, v, v - (v - self.pulls[idx, max(col - 1, 0)]) // 4)
        return pa.array(v, type=I, mask=self.pull_null[idx, col])

    def tag_rows(self, j: int):
        """Tag rows of a snapshot, and per universe row: (chosen tag, reason, digest)."""
        snap = self.snapshots[j]
        idx = np.flatnonzero(self.members[snap])
        idx = idx[np.argsort(self.names[idx], kind="stable")]
        rng = np.random.default_rng([self.seed, j, 7])
        captured = day_micros(snap, 4 * 3600)
        cols = {k: [] for k in ["repository", "tag", "digest", "os", "architecture", "size",
                                "last_updated"]}
        chosen = {}
        digest = self.digests[snap]
        for i in idx:
            name = self.names[i]
            v = f"{(i % 9) + 1}.{i % 13}"
            tags = ([("latest", 0)] if self.has_latest[i] else []) + \
                [(v, 0), (f"{v}-slim", 1)][: self.ntags[i]]
            upd = int(self.updated[snap][i])
            best = None
            for t, age in sorted(tags):
                when = upd - age * 86400 * 1_000_000
                for arch in (["amd64", "arm64"] if (i + len(t)) % 5 < 2 else ["amd64"]):
                    cols["repository"].append(name)
                    cols["tag"].append(t)
                    d = digest[i] if arch == "amd64" and age == 0 else \
                        "sha256:" + hashlib.sha256(f"{digest[i]}{t}{arch}".encode()).hexdigest()
                    cols["digest"].append(d)
                    cols["os"].append("linux")
                    cols["architecture"].append(arch)
                    cols["size"].append(int(rng.integers(2_000_000, 400_000_000)))
                    cols["last_updated"].append(when)
                if best is None or when > best[1] or (when == best[1] and t < best[0]):
                    best = (t, when)
            if self.has_latest[i]:
                chosen[i] = ("latest", "latest", digest[i])
            else:
                t = best[0]
                when = dt.datetime.fromtimestamp(best[1] / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                d = digest[i] if not t.endswith("-slim") else \
                    "sha256:" + hashlib.sha256(f"{digest[i]}{t}amd64".encode()).hexdigest()
                chosen[i] = (t, f"no latest tag; most recently updated ({when})", d)
        n = len(cols["tag"])
        size = np.array(cols["size"], dtype=np.int64)
        upd = np.array(cols["last_updated"], dtype=np.int64)
        table = pa.table({
            "repository": pa.array(cols["repository"], type=S),
            "tag": pa.array(cols["tag"], type=S),
            "digest": pa.array(cols["digest"], type=S),
            "os": pa.array(cols["os"], type=S),
            "architecture": pa.array(cols["architecture"], type=S),
            "variant": pa.nulls(n, type=S),
            "size": pa.array(size, type=I),
            "full_size": pa.array(size * 5 // 2, type=I),
            "last_updated": ts_array(upd),
            "last_pulled": ts_array(np.full(n, day_micros(snap, 3 * 3600))),
            "last_pushed": ts_array(upd),
            "tag_status": pa.array(["active"] * n, type=S),
            "source": pa.array([self.source] * n, type=S),
            "captured_at": ts_array(np.full(n, captured)),
            "carried_forward": pa.array(np.zeros(n, dtype=bool), type=B),
        })
        return table, chosen

    def scans_and_findings(self, j: int, chosen: dict):
        snap = self.snapshots[j]
        idx = np.flatnonzero(self.members[snap])
        idx = idx[np.argsort(self.names[idx], kind="stable")]
        roll = self.scan_roll[snap][idx]
        status = np.where(roll < 0.005, "no_tag", np.where(roll < 0.015, "failed", "ok"))
        ok = status == "ok"
        fam = np.array(self.family_names, dtype=object)[self.family[idx]]
        osn = self.os_name[idx]
        eol_dates = [self.eol.get((f_, release_key(f_, o))) for f_, o in zip(fam, osn)]
        today = dt.date.today()
        eol_days = np.array([day_num(e) if e else 0 for e in eol_dates], dtype=np.int32)
        has_eol = np.array([e is not None for e in eol_dates]) & ok
        eol_at = np.array([e is not None and snap >= e for e in eol_dates])
        eosl = np.array([e is not None and today >= e for e in eol_dates])
        # findings: n per ok image, drawn without replacement from its family's pool
        nfind = np.where(ok, self.nfind[snap][idx], 0)
        rng = np.random.default_rng([self.seed, j, 11])
        lang_start, lang_size = self.pool_of_family[-1]
        picks, owners = [], []
        for pos, (i, k) in enumerate(zip(idx, nfind)):
            if k == 0:
                continue
            start, size = self.pool_of_family[self.family[i]]
            n_lang = int(k * 0.2) if self.has_lang[i] else 0
            n_os = min(int(k) - n_lang, size)
            p = start + rng.choice(size, size=n_os, replace=False)
            if n_lang:
                p = np.concatenate([p, lang_start + rng.choice(lang_size, size=min(n_lang, lang_size),
                                                               replace=False)])
            picks.append(p)
            owners.append(np.full(len(p), pos, dtype=np.int64))
        pick = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
        owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
        order = np.lexsort((self.pool_rank[pick], owner))
        pick, owner = pick[order], owner[order]
        # counts by severity, all and fixable
        m = len(idx)
        sev = self.pool_sev[pick]
        fixable = self.pool_fixable[pick]
        counts = np.zeros((m, 6), dtype=np.int64)
        fcounts = np.zeros((m, 6), dtype=np.int64)
        np.add.at(counts, (owner, 0), 1)
        np.add.at(counts, (owner, sev), 1)
        np.add.at(fcounts, (owner[fixable], 0), 1)
        np.add.at(fcounts, (owner[fixable], sev[fixable]), 1)
        names = self.names[idx]
        tag = [chosen[i][0] if s != "no_tag" else None for i, s in zip(idx, status)]
        reason = [chosen[i][1] if s != "no_tag" else "no tags" for i, s in zip(idx, status)]
        digest = [chosen[i][2] if s != "no_tag" else None for i, s in zip(idx, status)]
        prev = self.snapshots[j - 1] if j > 0 else None
        rescan = np.array([prev is not None and self.members[prev][i]
                           and self.digests[prev][i] == self.digests[snap][i] for i in idx])
        analysis = np.where(status == "no_tag", "none", np.where(rescan, "sbom_rescan", "image"))
        db_at = day_micros(snap, -6 * 3600)
        null_counts = ~ok
        scans = {
            "name": pa.array(names, type=S),
            "tag": pa.array(tag, type=S),
            "tag_reason": pa.array(reason, type=S),
            "digest": pa.array(digest, type=S),
            "image_ref": pa.array([f"docker.io/library/{n}@{d}" if d else None
                                   for n, d in zip(names, digest)], type=S),
            "analysis": pa.array(analysis, type=S),
            "os_family": pa.array(fam, type=S, mask=~ok),
            "os_name": pa.array(osn, type=S, mask=~ok),
            "eol_date": date_array(eol_days, mask=~has_eol),
            "eol_at_snapshot": pa.array(eol_at, type=B, mask=~has_eol),
            "trivy_eosl": pa.array(eosl, type=B, mask=~ok),
        }
        for c, sev_name in enumerate(["total", "critical", "high", "medium", "low", "unknown"]):
            scans[sev_name] = pa.array(counts[:, c], type=I, mask=null_counts)
        for c, sev_name in enumerate(["fixable", "fixable_critical", "fixable_high",
                                      "fixable_medium", "fixable_low", "fixable_unknown"]):
            scans[sev_name] = pa.array(fcounts[:, c], type=I, mask=null_counts)
        failed = status == "failed"
        scans.update({
            "status": pa.array(status, type=S),
            "error": pa.array(["trivy exited with 1: image scan failed: unable to analyze layer"
                               if s == "failed" else "the repository has no tags to scan"
                               if s == "no_tag" else None for s in status], type=S),
            "duration_ms": pa.array(np.where(rescan, 40, 900) + nfind // 3, type=I,
                                    mask=status == "no_tag"),
            "trivy_version": pa.array(["0.76.0"] * m, type=S, mask=status == "no_tag"),
            "db_updated_at": ts_array(np.full(m, db_at), mask=status == "no_tag"),
            "db_digest": pa.array([self.db_digest[snap]] * m, type=S, mask=status == "no_tag"),
            "layers_analysed": pa.array(np.where(rescan, 0, 1 + idx % 7), type=I,
                                        mask=(status == "no_tag") | failed),
            "note": pa.nulls(m, type=S),
            "source": pa.array([self.source] * m, type=S),
        })
        scans_t = pa.table(scans)
        # findings: image columns by owner, vulnerability columns by pool index
        own = pa.array(owner)
        pk = pa.array(pick)
        fam_arr = pa.array([f"{f_} {o}" for f_, o in zip(fam, osn)], type=S)
        is_lang = pa.array(pick >= lang_start)
        findings = pa.table({
            "name": pa.array(names, type=S).take(own),
            "tag": pa.array(tag, type=S).take(own),
            "digest": pa.array(digest, type=S).take(own),
            "vulnerability_id": self.pool["id"].take(pk),
            "pkg_name": self.pool["pkg"].take(pk),
            "installed_version": self.pool["inst"].take(pk),
            "fixed_version": self.pool["fixed"].take(pk),
            "status": self.pool["status"].take(pk),
            "fixable": pa.array(fixable, type=B),
            "severity": self.pool["sev"].take(pk),
            "title": self.pool["title"].take(pk),
            "target": pc.if_else(is_lang, self.pool["target"].take(pk), fam_arr.take(own)),
            "class": self.pool["cls"].take(pk),
        })
        return scans_t, findings

    def pull_counts(self, day: dt.date) -> pa.Table:
        idx = np.flatnonzero(self.members[self.last])
        idx = idx[np.argsort(self.names[idx], kind="stable")]
        n = len(idx)
        # last_updated as the list shows it that day: the latest snapshot's value on or before
        known = [s for s in self.snapshots if s <= day]
        upd = self.updated[known[-1] if known else self.snapshots[0]][idx]
        return pa.table({
            "name": pa.array(self.names[idx], type=S),
            "namespace": pa.array(["library"] * n, type=S),
            "pull_count": self.pull_at(day, idx, hour=6),
            "star_count": pa.array(self.stars[idx], type=I),
            "last_updated": ts_array(np.minimum(upd, day_micros(day, 6 * 3600))),
            "captured_at": ts_array(np.full(n, day_micros(day, 6 * 3600))),
            "source": pa.array([self.source] * n, type=S),
        })


# as hubaudit's Parquet writer (io::parquet::ROW_GROUP_ROWS)
ROW_GROUP_ROWS = 128 * 1024


def day_num(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def params_of(args) -> dict:
    """What DIR/.gen-params records: equal parameters give equal rows."""
    return {
        "generator": GEN_VERSION,
        "images": args.images,
        "findings_per_image": args.findings_per_image,
        "seed": args.seed,
        "snapshots": args.snapshots,
        "days": args.days,
        "source": args.source,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--findings-per-image", type=int, default=300)
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--snapshots", default="2021-08-10,2021-08-24",
                   help="comma-separated snapshot dates (staged repositories, tags, scans, findings)")
    p.add_argument("--days", type=int, default=365,
                   help="daily pull_counts partitions ending on the last snapshot")
    p.add_argument("--source", default="bench", help="the rows' source column and manifests' source")
    return p


def generate(args) -> dict:
    out = Path(args.out)
    params = params_of(args)
    repo_root = Path(__file__).resolve().parent.parent
    snapshots = sorted(dt.date.fromisoformat(s) for s in args.snapshots.split(","))
    t0 = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    w = World(args.images, args.findings_per_image, args.seed, snapshots, args.days,
              args.source, repo_root)
    tools = [["gen_marts_world.py", GEN_VERSION], ["pyarrow", pa.__version__]]
    stats = {"findings": {}, "bytes": {}}
    for j, snap in enumerate(snapshots):
        stats["bytes"][f"repositories/{snap}"] = write_partition(
            out, "repositories", snap, w.repositories(j), args.source, tools)
        tags, chosen = w.tag_rows(j)
        stats["bytes"][f"tags/{snap}"] = write_partition(out, "tags", snap, tags, args.source,
                                                         tools)
        scans, findings = w.scans_and_findings(j, chosen)
        stats["bytes"][f"scans/{snap}"] = write_partition(out, "scans", snap, scans, args.source,
                                                          tools)
        stats["bytes"][f"findings/{snap}"] = write_partition(out, "findings", snap, findings,
                                                             args.source, tools)
        stats["findings"][str(snap)] = findings.num_rows
        print(f"{snap}: {scans.num_rows} scans, {findings.num_rows} findings "
              f"({stats['bytes'][f'findings/{snap}'] / 1e6:.1f} MB)", file=sys.stderr)
    pull_bytes = 0
    for d in w.pull_days[-args.days:] if args.days else []:
        pull_bytes += write_partition(out, "pull_counts", d, w.pull_counts(d), args.source, tools)
    # snapshot days are always captured (even with --days 0 or a short span)
    for d in snapshots:
        if not (out / "2_staged" / "pull_counts" / f"snapshot={d}").exists():
            pull_bytes += write_partition(out, "pull_counts", d, w.pull_counts(d), args.source,
                                          tools)
    stats["bytes"]["pull_counts"] = pull_bytes
    shutil.rmtree(out / ".tmp", ignore_errors=True)
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    (out / ".gen-params").write_text(json.dumps({"params": params, "stats": stats},
                                                     indent=2) + "\n")
    return {"params": params, "stats": stats}


def main():
    args = parser().parse_args()
    r = generate(args)
    s = r["stats"]
    print(f"wrote {args.out}: {args.images} images, findings {s['findings']}, "
          f"{sum(s['bytes'].values()) / 1e6:.1f} MB in {s['seconds']} s")


if __name__ == "__main__":
    main()
