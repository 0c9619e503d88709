"""Whether the weights-measured checks (check_accuracy, check_gap) measure, or only load.

While a submission is graded, the judge's clean room measures the submitted weights once,
from the file, in a process no student code runs in; the checks then only check that the
weights load into the student's network. The judge says so by calling
:func:`measure_in_clean_room` once (an explicit call, not an environment variable).
"""

_clean_room_measures = False


def measure_in_clean_room() -> None:
    """From now on, in this process, the weights-measured checks only check loading."""
    global _clean_room_measures
    _clean_room_measures = True


def clean_room_measures() -> bool:
    return _clean_room_measures
