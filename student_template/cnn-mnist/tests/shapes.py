from otter.test_files import test_case

OK_FORMAT = False

name = "shapes"
points = 3

@test_case(points=1, hidden=False)
def test_shapes_of_the_table(conv_output_size, table_shapes):
    import torch
    from torch import nn
    assert callable(conv_output_size) and callable(table_shapes), 'define both functions first (run their cell)'
    assert conv_output_size(28, 3) == 28 - 3 + 1, 'a 3-wide filter fits (28 - 3) / 1 + 1 positions across 28 pixels: did you forget the + 1?'
    halved = conv_output_size(28, 3, stride=2)
    assert halved == (28 - 3) // 2 + 1 and type(halved) is int, 'with stride 2, round (28 - 3) / 2 down before adding 1, and return an int'
    layers = [nn.Conv2d(1, 32, 3), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.Conv2d(64, 32, 3)]
    names = ['the first convolution', 'the pooling', 'the second convolution', 'the third convolution']
    yours = list(table_shapes(28))
    assert len(yours) == 5, 'table_shapes should return five things: four (channels, height, width) tuples and the flattened length'
    x = torch.zeros(1, 1, 28, 28)
    for name, layer, shape in zip(names, layers, yours):
        x = layer(x)
        hint = ' (pooling is the rule with F = 2 and S = 2)' if 'pooling' in name else ''
        assert tuple(shape) == tuple(x.shape[1:]), f'the output of {name} is not {tuple(shape)}{hint}'
    assert yours[4] == x.numel(), "the flattened length is channels * height * width of the last convolution's output"

