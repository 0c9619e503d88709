from otter.test_files import test_case

OK_FORMAT = False

name = "conv_arithmetic"
points = 3

@test_case(points=1, hidden=False)
def test_worked_examples(conv_output_size, conv_layer_params):
    from torch import nn
    from dlcourse.checks import student_function
    conv_output_size = student_function(conv_output_size, 'conv_output_size')
    conv_layer_params = student_function(conv_layer_params, 'conv_layer_params')

    def size_of(*args, **kwargs):
        try:
            return conv_output_size(*args, **kwargs)
        except ValueError:
            return 'ValueError'
    assert size_of(28, 3) == 26, 'a 3-wide filter over 28 pixels without padding gives 26'
    assert size_of(32, 3, padding=1) == 32, 'padding 1 keeps 32 pixels at 32 for a 3-wide filter'
    uneven = size_of(28, 3, stride=2)
    assert uneven != 'ValueError', 'conv_output_size(28, 3, stride=2) raised ValueError: a stride that does not divide evenly is allowed, round down as PyTorch does'
    assert uneven == 13 and type(uneven) is int, 'conv_output_size(28, 3, stride=2) should round (28 - 3) / 2 down before adding 1, and return an int: 13'
    assert size_of(32, 3, padding=1, stride=2) == 16, 'conv_output_size(32, 3, padding=1, stride=2) should round (32 + 2 - 3) / 2 down before adding 1: 16'
    assert size_of(4, 7) == 'ValueError', 'conv_output_size(4, 7) should raise ValueError: a 7-wide filter does not fit 4 pixels'
    assert conv_layer_params(3, 32, 3) == sum((p.numel() for p in nn.Conv2d(3, 32, 3).parameters())), 'conv_layer_params(3, 32, 3) should count (3*3*3 + 1)*32'

