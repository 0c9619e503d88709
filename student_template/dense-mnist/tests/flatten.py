from otter.test_files import test_case

OK_FORMAT = False

name = "flatten"
points = 2

@test_case(points=None, hidden=False)
def test_flat_features_mnist(flat_features):
    from dlcourse.checks import student_function
    flat_features = student_function(flat_features, 'flat_features')
    assert flat_features((1, 28, 28)) == 784, 'an MNIST image of shape (1, 28, 28) flattens to 784 numbers'

