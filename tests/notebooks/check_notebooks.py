"""Validate recours' notebooks with nbformat and re-execute them with nbclient; every
stored text output must come back identical (the key figures are reproduced).

Usage: python check_notebooks.py RUN_FOLDER
Needs: nbformat, nbclient, ipykernel, polars (see tests/notebooks/requirements.txt).
Prints one line per notebook; exits 1 on any difference.
"""
import copy
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def texts(nb):
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                out.append(("stream", o["text"]))
            elif o["output_type"] == "display_data":
                out.append(("display", sorted(o["data"].keys())))
    return out


def main() -> int:
    run = Path(sys.argv[1]).resolve()
    folder = run / "notebooks-export"
    failed = 0
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        stored = texts(nb)
        fresh = copy.deepcopy(nb)
        os.environ["RECOURS_RUN"] = str(run)
        NotebookClient(fresh, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
        again = texts(fresh)
        if again == stored:
            print(f"ok {path.name}: {len(stored)} outputs reproduced")
        else:
            failed += 1
            print(f"DIFFERENT {path.name}")
            for a, b in zip(stored, again):
                if a != b:
                    print("  stored:", a)
                    print("  fresh: ", b)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
