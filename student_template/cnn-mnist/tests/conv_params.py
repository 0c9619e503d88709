from otter.test_files import test_case

OK_FORMAT = False

name = "conv_params"
points = 2

@test_case(points=None, hidden=False)
def test_conv_params_worked_example(conv_params):
    from dlcourse.checks import student_function
    conv_params = student_function(conv_params, 'conv_params')
    assert conv_params(3, 5, 5, 4) == 304, 'four 5x5 filters over 3 channels hold (3*5*5 + 1)*4 = 304 parameters'

