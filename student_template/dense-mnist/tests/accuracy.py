from otter.test_files import test_case

OK_FORMAT = False

name = "accuracy"
points = 4

@test_case(points=1, hidden=False)
def test_weights_fit_the_model(model):
    from dlcourse.checks import load_submitted_weights
    load_submitted_weights(model)

@test_case(points=3, hidden=False)
def test_test_accuracy(model, prepare):
    from dlcourse.checks import check_accuracy
    check_accuracy(model, prepare)

