#!/usr/bin/env python3
"""Self-test of the Python side on generated fixtures (no pipeline output needed).

    python tests/python/test_notebooks_fixture.py

With the interpreter that runs it (the venv of notebooks/requirements.txt), in a temporary
folder: builds fixtures with make_fixture.py, then checks that

- the committed notebooks carry no outputs, and print the SAMPLE DATA warning when run;
- test_hive_read.py passes on the fixture and fails on a root without staged datasets;
- notebooks/run.py passes on the fixture, with and without the report's study_comparison.csv;
- notebooks/run.py fails, naming the missing column, when a mart column is dropped.

Prints one line per check and last `python-notebooks: N passed, M failed`; exit 1 on failure.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PY = sys.executable


def run(*args: str | Path) -> tuple[int, str]:
    proc = subprocess.run([PY, *map(str, args)], capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def last_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def fixture(tmp: Path, name: str, *flags: str) -> Path:
    root = tmp / name
    code, out = run(HERE / "make_fixture.py", root, *flags)
    if code:
        raise RuntimeError(f"make_fixture.py {' '.join(flags)} failed:\n{out}")
    return root


def main() -> int:
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        results.append((name, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
        if not ok and detail:
            print("    " + detail.rstrip().replace("\n", "\n    "))

    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    check("notebooks exist", len(notebooks) >= 2, f"found {[p.name for p in notebooks]}")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and (c.get("outputs") or c.get("execution_count") is not None)]
        check(f"{path.name} committed without outputs", not dirty, f"cells with outputs: {dirty}")

    with tempfile.TemporaryDirectory(prefix="hubaudit-py-") as t:
        tmp = Path(t)
        good = fixture(tmp, "good")
        no_csv = fixture(tmp, "no-csv", "--no-report-csv")
        broken = fixture(tmp, "broken", "--drop", "images:fixable")
        (tmp / "empty").mkdir()

        code, out = run(HERE / "test_hive_read.py", "--datasets", good, "--require-marts")
        check("hive-read passes on the fixture",
              code == 0 and last_line(out) == "hive-read: 9 passed, 0 failed", out)
        code, out = run(HERE / "test_hive_read.py", "--datasets", tmp / "empty")
        check("hive-read fails without staged datasets",
              code == 1 and last_line(out) == "hive-read: 0 passed, 1 failed", out)

        n = len(notebooks)
        code, out = run(REPO / "notebooks" / "run.py", "--datasets", good, "--keep")
        check("notebooks pass on the fixture",
              code == 0 and last_line(out) == f"notebooks: {n} passed, 0 failed", out)
        kept = [line.split(" kept in ", 1)[1] for line in out.splitlines() if " kept in " in line]
        for path in notebooks:
            executed = Path(kept[0]) / path.name if kept else path
            text = executed.read_text() if executed.exists() else ""
            check(f"{path.name} warns SAMPLE DATA", executed != path and "SAMPLE DATA:" in text,
                  f"no 'SAMPLE DATA:' in the outputs of {executed}")
        if kept:
            shutil.rmtree(kept[0], ignore_errors=True)
        code, out = run(REPO / "notebooks" / "run.py", "--datasets", no_csv)
        check("notebooks pass without study_comparison.csv",
              code == 0 and last_line(out) == f"notebooks: {n} passed, 0 failed", out)
        code, out = run(REPO / "notebooks" / "run.py", "--datasets", broken)
        check("notebooks fail on a dropped mart column",
              code == 1 and last_line(out) == f"notebooks: 0 passed, {n} failed"
              and "lacks the columns ['fixable']" in out, out)

    failed = sum(1 for _, ok, _ in results if not ok)
    print(f"python-notebooks: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
