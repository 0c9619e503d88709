from otter.test_files import test_case

OK_FORMAT = False

name = "conv_arithmetic"
points = 3

@test_case(points=1, hidden=False)
def test_worked_examples(conv_output_size, conv_layer_params):
    from torch import nn
    assert callable(conv_output_size) and callable(conv_layer_params), 'define both functions first (run their cell)'
    assert conv_output_size(28, 3) == 26, 'a 3-wide filter over 28 pixels without padding gives 26'
    assert conv_output_size(32, 3, padding=1) == 32, 'padding 1 keeps 32 pixels at 32 for a 3-wide filter'
    assert conv_output_size(28, 4, stride=2) == 13, 'a 4-wide filter with stride 2 over 28 pixels gives 13'
    try:
        conv_output_size(28, 3, stride=2)
    except ValueError:
        pass
    else:
        raise AssertionError('conv_output_size(28, 3, stride=2) should raise ValueError: (28 - 3) / 2 is not whole')
    assert conv_layer_params(3, 32, 3) == sum((p.numel() for p in nn.Conv2d(3, 32, 3).parameters())), 'conv_layer_params(3, 32, 3) should count (3*3*3 + 1)*32'

