from otter.test_files import test_case

OK_FORMAT = False

name = "vgg_block"
points = 3

@test_case(points=2, hidden=False)
def test_first_block(vgg_block):
    from dlcourse.checks import check_architecture, student_function
    from dlcourse.lesson import current_lesson
    from dlcourse.spec import ArchSpec
    vgg_block = student_function(vgg_block, 'vgg_block')
    spec = current_lesson().architecture
    check_architecture(vgg_block(3, 16), ArchSpec(spec.input_shape, spec.layers[:5]))

