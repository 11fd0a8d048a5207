"""Validate recours' notebooks with nbformat, re-execute them with nbclient, and compare what
they recompute from the run's files with what recours stored: every printed line must come
back with the same words and the same numbers (within 1e-4, the printed precision), and every
stored picture must be drawn again (matplotlib redraws the report's charts from the data).

Usage: python check_notebooks.py RUN_FOLDER
Needs: nbformat, nbclient, ipykernel, polars, matplotlib (see tests/notebooks/requirements.txt).
Prints one line per notebook; exits 1 on any difference.
"""
import copy
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
TOLERANCE = 1e-4


def outputs(nb):
    """Per code cell: its printed text and how many pictures it shows."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = "".join(o["text"] for o in cell.get("outputs", []) if o["output_type"] == "stream")
        pictures = sum(
            1
            for o in cell.get("outputs", [])
            if o["output_type"] == "display_data"
            and any(k.startswith("image/") for k in o["data"])
        )
        out.append((text, pictures))
    return out


def same_values(stored, fresh):
    """Same words, numbers equal within TOLERANCE."""
    if NUMBER.sub("#", stored) != NUMBER.sub("#", fresh):
        return False
    a = [float(x) for x in NUMBER.findall(stored)]
    b = [float(x) for x in NUMBER.findall(fresh)]
    return len(a) == len(b) and all(abs(x - y) <= TOLERANCE * max(1.0, abs(x)) for x, y in zip(a, b))


def main() -> int:
    run = Path(sys.argv[1]).resolve()
    folder = run / "notebooks-export"
    failed = 0
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        stored = outputs(nb)
        fresh = copy.deepcopy(nb)
        os.environ["RECOURS_RUN"] = str(run)
        NotebookClient(fresh, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
        again = outputs(fresh)
        problems = []
        for i, ((text, pictures), (text2, pictures2)) in enumerate(zip(stored, again)):
            if not same_values(text, text2):
                problems.append(f"  cell {i + 1}: stored {text!r}\n           fresh  {text2!r}")
            if pictures2 < pictures:
                problems.append(f"  cell {i + 1}: {pictures} stored picture(s), {pictures2} drawn")
        if len(stored) != len(again):
            problems.append(f"  {len(stored)} code cells stored, {len(again)} executed")
        if problems:
            failed += 1
            print(f"DIFFERENT {path.name}")
            print("\n".join(problems))
        else:
            print(f"ok {path.name}: {len(stored)} cells, values reproduced")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
