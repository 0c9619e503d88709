from otter.test_files import test_case

OK_FORMAT = False

name = "conv_params"
points = 2

@test_case(points=None, hidden=False)
def test_conv_params_worked_example(conv_params):
    assert callable(conv_params), 'define the function `conv_params` first (run its cell)'
    assert conv_params(3, 5, 5, 4) == 304, 'four 5x5 filters over 3 channels hold (3*5*5 + 1)*4 = 304 parameters'

