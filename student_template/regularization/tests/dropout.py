from otter.test_files import test_case

OK_FORMAT = False

name = "dropout"
points = 2

@test_case(points=None, hidden=False)
def test_first_block(regularized_block):
    from dlcourse.checks import check_architecture, student_function
    from dlcourse.lesson import current_lesson
    from dlcourse.spec import ArchSpec
    regularized_block = student_function(regularized_block, 'regularized_block')
    spec = current_lesson().architecture
    check_architecture(regularized_block(3, 24, 0.1), ArchSpec(spec.input_shape, spec.layers[:5]))

