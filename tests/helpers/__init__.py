"""Helpers that several test modules share. A test module imports helpers from here (or asks
for conftest.py's fixtures), never from another test module.

- :mod:`.paths`: the repository's root and the data folder grading runs read;
- :mod:`.weights`: weights files as torch writes them (on a GPU machine too);
- :mod:`.gradescope`: an autograder zip run as Gradescope runs it, and its results.json checked;
- :mod:`.gradebooks`: made-up results and a Canvas-like batch, and the CSVs read back;
- :mod:`.leftovers`: what grading left behind (scratch folders, processes, cgroups);
- :mod:`.notebooks`: the dense-mnist notebook worked through, graded alone, and the lessons'
  master notebooks and question tests.

``tests/`` is on ``sys.path`` while pytest runs (its conftest.py's folder, pytest's default
"prepend" import mode), so ``from helpers.paths import ROOT`` works from any test folder.
"""
