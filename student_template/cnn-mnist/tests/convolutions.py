from otter.test_files import test_case

OK_FORMAT = False

name = "convolutions"
points = None

@test_case(points=0, hidden=False)
def test_convolutions_format(conv_statements):
    from dlcourse.checks import chosen_answer
    chosen_answer(conv_statements, 'abcde', 'conv_statements')

