from otter.test_files import test_case

OK_FORMAT = False

name = "curves"
points = None

@test_case(points=0, hidden=False)
def test_curves_format(curve_statements):
    from dlcourse.checks import chosen_answer
    chosen_answer(curve_statements, 'abcde', 'curve_statements')

