from otter.test_files import test_case

OK_FORMAT = False

name = "no_softmax"
points = None

@test_case(points=0, hidden=False)
def test_no_softmax_format(softmax_statements):
    from dlcourse.checks import chosen_answer
    chosen_answer(softmax_statements, 'abcde', 'softmax_statements')

