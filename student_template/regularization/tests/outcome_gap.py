from otter.test_files import test_case

OK_FORMAT = False

name = "outcome_gap"
points = 2

@test_case(points=None, hidden=False)
def test_smaller_gap_than_lesson_3(model, prepare):
    from dlcourse.checks import check_gap
    check_gap(model, prepare)

