from otter.test_files import test_case

OK_FORMAT = False

name = "batchnorm"
points = 2

@test_case(points=None, hidden=False)
def test_first_layers(conv_bn_relu):
    from dlcourse.checks import check_architecture, student_function
    from dlcourse.lesson import current_lesson
    from dlcourse.spec import ArchSpec
    conv_bn_relu = student_function(conv_bn_relu, 'conv_bn_relu')
    spec = current_lesson().architecture
    check_architecture(conv_bn_relu(3, 24), ArchSpec(spec.input_shape, spec.layers[:3]))

