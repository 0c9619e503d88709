from otter.test_files import test_case

OK_FORMAT = False

name = "flatten"
points = 2

@test_case(points=None, hidden=False)
def test_flat_features_mnist(flat_features):
    assert callable(flat_features), 'define the function `flat_features` first (run its cell)'
    assert flat_features((1, 28, 28)) == 784, 'an MNIST image of shape (1, 28, 28) flattens to 784 numbers'

