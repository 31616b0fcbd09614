#!/usr/bin/env python3
"""Execute every notebook of this folder headless, against a dataset root.

    python notebooks/run.py [--datasets DIR] [NOTEBOOK ...]

Each `*.ipynb` beside this script (or only those named) is copied to a temporary folder and
executed there with nbclient (kernel `python3`, 120 s per cell), with `HUBAUDIT_DATASETS` set
to DIR made absolute (default: `datasets` beside `notebooks/`). The committed notebooks are
never modified. The dataset root is checked to be unchanged afterwards: notebooks only read.

Prints one line per notebook, the failing cell's error after a failed one, and last
`notebooks: N passed, M failed`. Exit status 1 if any failed (or none was found).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT_S = 120
MAX_SOURCE_LINES = 12
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with its size and mtime, to detect writes."""
    state = {}
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            state[p.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return state


def describe_changes(before: dict, after: dict) -> list[str]:
    changes = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    changes += [f"modified {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return changes


def failing_cell(nb) -> int | None:
    """Index of the first code cell with an error output (after execution)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(
            out.get("output_type") == "error" for out in cell.get("outputs", [])
        ):
            return i
    return None


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def run_one(path: Path, workdir: Path, verbose: bool = False) -> tuple[bool, float, str]:
    """Execute a copy of path in workdir; (passed, seconds, error text)."""
    copy = workdir / path.name
    shutil.copyfile(path, copy)
    nb = nbformat.read(copy, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},  # the kernel's working folder
    )
    log = workdir / f"{path.stem}.kernel.log"
    start = time.monotonic()
    try:
        with open(log, "wb") as kernel_stderr:  # the kernel's own warnings; shown if it dies
            client.execute(stderr=kernel_stderr)
    except CellTimeoutError as e:
        error = f"a cell timed out after {CELL_TIMEOUT_S} s: {e}"
    except CellExecutionError as e:
        i = failing_cell(nb)
        source = nb.cells[i].source if i is not None else ""
        lines = source.splitlines()
        if len(lines) > MAX_SOURCE_LINES:
            lines = lines[:MAX_SOURCE_LINES] + [f"... ({len(lines) - MAX_SOURCE_LINES} more lines)"]
        error = (
            (f"cell {i}:\n" + indent("\n".join(lines)) + "\n" if i is not None else "")
            + f"{e.ename}: {ANSI.sub('', e.evalue).strip()}"
        )
        if verbose:
            error += "\n" + ANSI.sub("", e.traceback).strip()
    except DeadKernelError as e:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        error = f"kernel died: {e}\n{tail}"
    except Exception as e:  # kernel could not start, invalid notebook, ...
        error = f"{type(e).__name__}: {e}"
    else:
        error = ""
    seconds = time.monotonic() - start
    nbformat.write(nb, copy)  # the executed copy, with outputs, stays in the temp folder
    return not error, seconds, error


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=HERE.parent / "datasets",
                    help="dataset root (default: datasets beside notebooks/)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary folder with the executed notebooks and print it")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="print the whole traceback of a failing cell")
    ap.add_argument("notebooks", nargs="*", type=Path,
                    help="notebooks to run (default: every *.ipynb in notebooks/)")
    args = ap.parse_args(argv)

    datasets = args.datasets.resolve()
    paths = [p.resolve() for p in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    if not paths:
        print(f"no notebooks in {HERE}")
        print("notebooks: 0 passed, 0 failed")
        return 1
    if not datasets.is_dir():
        for p in paths:
            print(f"FAIL {p.name}: dataset root {datasets} is not a folder")
        print(f"notebooks: 0 passed, {len(paths)} failed")
        return 1

    os.environ["HUBAUDIT_DATASETS"] = str(datasets)

    os.environ.setdefault("HUBAUDIT_REFERENCE", str(HERE.parent / "datasets" / "reference"))
    print(f"datasets: {datasets}")
    before = tree_state(datasets)
    passed = failed = 0
    workdir = Path(tempfile.mkdtemp(prefix="hubaudit-notebooks-"))
    try:
        for path in paths:
            ok, seconds, error = run_one(path, workdir, args.verbose)
            after = tree_state(datasets)
            changes = describe_changes(before, after)
            if ok and changes:
                ok = False
                error = "wrote into the dataset root:\n" + indent("\n".join(changes[:20]))
            before = after
            if ok:
                passed += 1
                print(f"PASS {path.name} ({seconds:.1f} s)")
            else:
                failed += 1
                print(f"FAIL {path.name} ({seconds:.1f} s)")
                print(indent(error.rstrip()))
            sys.stdout.flush()
    finally:
        if args.keep:
            print(f"executed copies kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"notebooks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
