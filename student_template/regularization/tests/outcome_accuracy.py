from otter.test_files import test_case

OK_FORMAT = False

name = "outcome_accuracy"
points = 4

@test_case(points=None, hidden=False)
def test_test_accuracy(model, prepare):
    from dlcourse.checks import check_accuracy
    check_accuracy(model, prepare)

