"""The liberal reader: what instructors and students hand the grader, read without trusting it.

- :mod:`.files`: what a file is (by its name and kind), the lesson's files found tolerantly,
  a folder walked without following anything that is not a regular file; shared by every
  reader and by ``grader.export()``;
- :mod:`.archives`: zip and tar archives unpacked in memory, with caps and no unsafe paths;
- :mod:`.repairs`: the ordered, named repair steps a notebook passes through, each leaving a note;
- :mod:`.entries`: the rows (``Student``, ``Entry``, ``SetAside``, ``Discovery``), plain data that
  everything downstream imports from ``grading/inputs.py``;
- :mod:`.uploads`: a folder of uploads read entry by entry, what every layout builds on;
- :mod:`.layouts` and :mod:`.lms`: the input layouts (a plain folder, Gradescope's export, Canvas,
  Moodle, Blackboard), detected or chosen, each yielding :class:`~.entries.Entry` rows.

``grading/inputs.py`` (the rows) and ``grading/submission.py`` (one submission) are the entry points.
"""
