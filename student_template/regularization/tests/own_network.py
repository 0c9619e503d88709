from otter.test_files import test_case

OK_FORMAT = False

name = "own_network"
points = 4

@test_case(points=0, hidden=False, 
    success_message="measured here as the grader measures it: the target reached within the budget")
def test_design_measured_here(own_model):
    from dlcourse.checks import check_design
    check_design(own_model)

