from otter.test_files import test_case

OK_FORMAT = False

name = "split_statistics"
points = None

@test_case(points=0, hidden=False)
def test_split_statistics_format(statistics_statements):
    from dlcourse.checks import chosen_answer
    chosen_answer(statistics_statements, 'abcde', 'statistics_statements')

