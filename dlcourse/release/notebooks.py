"""Step 2 of the build: notebooks that come out byte-for-byte the same on every build."""

from __future__ import annotations

from pathlib import Path

import nbformat


def normalize_notebook(path: Path) -> None:
    """Rewrite ``path`` with stable cell ids and no execution leftovers.

    Otter gives every cell a random id; numbering them keeps a rebuild from touching files
    whose content did not change.
    """
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.validate(nb)
    nbformat.write(nb, path)
