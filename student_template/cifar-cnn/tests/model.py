from otter.test_files import test_case

OK_FORMAT = False

name = "model"
points = 4

@test_case(points=1, hidden=False)
def test_model_outputs_ten_scores(model):
    from dlcourse.checks import check_output_shape
    check_output_shape(model, (3, 32, 32), classes=10)

@test_case(points=2, hidden=False)
def test_model_layers(model):
    from dlcourse.checks import check_architecture
    from dlcourse.lesson import current_lesson
    check_architecture(model, current_lesson().architecture)

