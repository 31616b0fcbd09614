#!/usr/bin/env python3
"""Generate two git repositories shaped like docker-library/docs and official-images, with
thousands of first-parent commits over a year, for timing `hubaudit backfill`.

Synthetic and deterministic (seeded): 160 image folders with README-short.txt, a ~6 KB
README.md and, for some, deprecated.md added during the year; some folders deleted after
deprecation; one rename; official-images library/ files whose tags change. Written with
`git fast-import` (fast), so the history is real git history.

usage: gen_history.py OUT_DIR [--commits-per-day N]
"""
import argparse
import random
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

START = datetime(2021, 1, 1, tzinfo=timezone.utc)
DAYS = 365


def blob(text: str) -> bytes:
    data = text.encode()
    return b"data %d\n" % len(data) + data + b"\n"


def readme(name: str, rev: int, notice: str | None) -> str:
    body = (f"# Quick reference\n\nSynthetic README of {name}, revision {rev}.\n\n"
            + ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 100) + "\n")
    if notice:
        return f"# **DEPRECATION NOTICE**\n\n{notice}\n\n{body}"
    return body


def library(name: str, rev: int) -> str:
    head = f"Maintainers: Bench <bench@example.invalid> (@bench)\nGitRepo: https://example.invalid/{name}.git\n"
    entries = []
    for v in range(3):
        tags = f"{rev}.{v}, {rev}" + (", latest" if v == 0 else "")
        entries.append(f"Tags: {tags}\nArchitectures: amd64, arm64v8, ppc64le\nGitCommit: {rev:040x}\nDirectory: {v}\n")
    return head + "\n" + "\n".join(entries)


def commit(out: list, ref: str, when: datetime, msg: str, changes: list) -> None:
    ts = int(when.timestamp())
    out.append(f"commit {ref}\ncommitter Bench <bench@example.invalid> {ts} +0000\n".encode())
    out.append(blob(msg))
    for c in changes:
        out.append(c)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--commits-per-day", type=int, default=10)
    args = ap.parse_args()
    rnd = random.Random(2021)
    out_dir = Path(args.out)
    names = [f"img{i:03d}" for i in range(160)]
    started = time.time()
    for kind in ("docs", "official-images"):
        repo = out_dir / kind
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "-b", "master", str(repo)], check=True)
        stream: list[bytes] = []
        live = list(names)
        rev = {n: 1 for n in names}
        deprecated: dict[str, str] = {}
        changes = []
        for n in names:
            if kind == "docs":
                changes.append(f"M 100644 inline {n}/README-short.txt\n".encode() + blob(f"The {n} image."))
                changes.append(f"M 100644 inline {n}/README.md\n".encode() + blob(readme(n, 1, None)))
            else:
                changes.append(f"M 100644 inline library/{n}\n".encode() + blob(library(n, 1)))
        commit(stream, "refs/heads/master", START, "initial", changes)
        count = 1
        for day in range(1, DAYS):
            for k in range(args.commits_per_day):
                when = START + timedelta(days=day, minutes=k * 7 + 1)
                n = rnd.choice(live)
                rev[n] += 1
                ch = []
                if kind == "docs":
                    roll = rnd.random()
                    if roll < 0.01 and n not in deprecated:
                        deprecated[n] = f"This image is deprecated in favor of [the `{names[0]}` image](https://hub.docker.com/_/{names[0]}/)."
                        ch.append(f"M 100644 inline {n}/deprecated.md\n".encode() + blob(deprecated[n]))
                    elif roll < 0.015 and n in deprecated and len(live) > 100:
                        ch.append(f"D {n}\n".encode())
                        live.remove(n)
                    ch.append(f"M 100644 inline {n}/README.md\n".encode() + blob(readme(n, rev[n], deprecated.get(n)))) if n in live else None
                else:
                    ch.append(f"M 100644 inline library/{n}\n".encode() + blob(library(n, rev[n])))
                commit(stream, "refs/heads/master", when, f"update {n}", [c for c in ch if c])
                count += 1
        if kind == "docs":
            # one rename, as docker-library does when an image changes its name
            when = START + timedelta(days=200, hours=23)
            n = next(x for x in live if x not in deprecated)
            commit(stream, "refs/heads/master", when, "rename", [f"R {n} {n}-renamed\n".encode()])
            count += 1
        proc = subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=b"".join(stream), check=True)
        subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", "master"], check=True)
        print(f"{kind}: {count} commits")
    print(f"generated in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
