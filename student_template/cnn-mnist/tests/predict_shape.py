from otter.test_files import test_case

OK_FORMAT = False

name = "predict_shape"
points = None

@test_case(points=0, hidden=False)
def test_predict_shape_format(predicted_shape):
    from dlcourse.checks import shape_answer
    shape_answer(predicted_shape, 'predicted_shape', 4)

