#!/usr/bin/env python3
"""Checks that bench/marts.sql computed what hubaudit did (so the benchmark times equal work).

    check_marts_sql.py HUBAUDIT_ROOT DUCKDB_ROOT SNAPSHOT

Compares the four marts of SNAPSHOT as multisets of rows (column names and types too; row
order and nullability flags are not compared) and the report CSVs of SNAPSHOT the SQL writes
(summary, deprecated, vulnerable, downloads, eol, stale) field by field, except the study
columns the SQL leaves empty (in_study, study_fixable). Prints one line per file; exits 1 on a
difference.
"""

import csv
import sys

import duckdb

SKIP = {"in_study", "study_fixable"}


def main():
    hub, duck, snap = sys.argv[1:4]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    bad = 0
    for m in ["images", "findings", "pulls", "rejects"]:
        a = f"read_parquet('{hub}/3_marts/{m}/snapshot={snap}/part-0.parquet')"
        b = f"read_parquet('{duck}/3_marts/{m}/snapshot={snap}/part-0.parquet')"
        ta = con.execute(f"DESCRIBE SELECT * FROM {a}").fetchall()
        tb = con.execute(f"DESCRIBE SELECT * FROM {b}").fetchall()
        types = [(x[0], x[1]) for x in ta] == [(x[0], x[1]) for x in tb]
        only_a = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})").fetchone()[0]
        only_b = con.execute(f"SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a})").fetchone()[0]
        rows = con.execute(f"SELECT count(*) FROM {a}").fetchone()[0]
        ok = types and only_a == 0 and only_b == 0
        bad += not ok
        print(f"  {'ok ' if ok else 'BAD'} 3_marts/{m}: {rows} rows; only in hubaudit's {only_a}, "
              f"only in duckdb's {only_b}; columns and types equal: {types}")
    for name in ["summary", "deprecated", "vulnerable", "downloads", "eol", "stale"]:
        ra = list(csv.reader(open(f"{hub}/4_report/{snap}/{name}.csv", newline="")))
        rb = list(csv.reader(open(f"{duck}/4_report/{snap}/{name}.csv", newline="")))
        keep = [i for i, h in enumerate(ra[0] if ra else []) if h not in SKIP]
        cut = lambda rows: [[r[i] for i in keep if i < len(r)] for r in rows]
        diff = [(x, y) for x, y in zip(cut(ra), cut(rb)) if x != y]
        ok = len(ra) == len(rb) and not diff
        bad += not ok
        print(f"  {'ok ' if ok else 'BAD'} 4_report/{snap}/{name}.csv: {len(ra)} vs {len(rb)} lines"
              + (f"; first difference {diff[0]}" if diff else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
