from otter.test_files import test_case

OK_FORMAT = False

name = "dropout_scale"
points = None

@test_case(points=0, hidden=False)
def test_dropout_scale_format(dropout_scale):
    from dlcourse.checks import number_answer
    number_answer(dropout_scale, 'dropout_scale', whole=False)

