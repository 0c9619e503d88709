from otter.test_files import test_case

OK_FORMAT = False

name = "eval_loop"
points = 3

@test_case(points=1, hidden=False)
def test_evaluate_accuracy_counts(evaluate_accuracy):
    from dlcourse.checks import check_evaluate_accuracy
    check_evaluate_accuracy(evaluate_accuracy, seed=0)

