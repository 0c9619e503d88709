"""The clean room: what the judge verifies from a submission's weights alone.

Part of the judge (:mod:`.judge`), run after the student's kernel is gone, on the bytes the
submission arrived with, captured before any student code ran. The measurement itself is
:mod:`dlcourse.measurement`, which the students' checks use too; this module is the judge's
name for it (and the import path tests and earlier autograders use).
"""

from ..measurement import PREDICTION_IMAGES, DesignVerdict, Verdict, verify, verify_design

__all__ = ["PREDICTION_IMAGES", "DesignVerdict", "Verdict", "verify", "verify_design"]
