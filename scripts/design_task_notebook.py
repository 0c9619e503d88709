"""Turn lesson 4's optional challenge into the graded design task (run from the worktree root)."""
import json
import sys

PATH = "assignments/regularization/regularization.ipynb"
nb = json.load(open(PATH))
cells = nb["cells"]


def src(cell):
    return "".join(cell["source"])


def lines(text):
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": lines(text)}


def raw(text):
    return {"cell_type": "raw", "metadata": {}, "source": lines(text)}


def code(text, tags=None):
    meta = {"tags": tags} if tags else {}
    return {"cell_type": "code", "execution_count": None, "metadata": meta, "outputs": [], "source": lines(text)}


config = src(cells[0])
assert "  - cifar_cnn.pt\n" in config
config = config.replace("  - cifar_cnn.pt\n", "  - cifar_cnn.pt\n  - design.json\n  - design.pt\n", 1)
config = config.replace("and cifar_cnn.pt (lesson 3's). Submit the zip.",
                        "cifar_cnn.pt (lesson 3's), and design.json and design.pt (your own network). Submit the zip.")
cells[0]["source"] = lines(config)

start = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and src(c).startswith("## Challenge"))
old_text = src(cells[start])
assert "challenge" in cells[start + 1]["metadata"].get("tags", []), "the challenge's code cell follows its text"
tricks = old_text[old_text.index("Its tricks:"):old_text.index(" Try the cell;")]

INTRO = f"""## Your own network

Everything in this lesson also makes training *fast*. Now design a network of your own for CIFAR-10, with three limits, as Stanford's CS231n sets such tasks:

- **accuracy**: at least 70% of the 10,000 test images, measured by the grader from your saved weights through this lesson's input pipeline (`prepare`);
- **size**: at most 200,000 parameters (the graded network of section 7 has 319,178);
- **time**: at most 5 minutes of training on a CPU like the course's 2-core test machine. The grader cannot measure how long you trained, so this limit is yours to keep: the training cell prints the time it took, and your paragraph below states it.

Your network is an `nn.Sequential` of PyTorch's own layers: `Conv2d`, `BatchNorm2d`, `BatchNorm1d`, `ReLU`, `LeakyReLU`, `GELU`, `SiLU`, `Tanh`, `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`, `AdaptiveMaxPool2d`, `Dropout`, `Dropout2d`, `Flatten` and `Linear`, with square kernels. An `nn.Sequential` inside it is fine, so a function that returns a block of layers is too. A class of your own, or a residual connection (a block's input added to its output), cannot be written as one sequence of layers, so they are outside this task. Why so strict? `save_design(own_model)` saves your network as *data*: the list of its layers and their sizes in `design.json`, beside its weights in `design.pt`. The grader rebuilds the network from that list and never runs your code; it counts the parameters from the list before it builds anything.

A starting point that works: three blocks of a 3×3 convolution without bias (24, 48 and 96 filters, padding 1), a batch normalization, a ReLU and a 2×2 max pooling; then one more 3×3 convolution of 96 filters without bias with its batch normalization and ReLU; then the largest value of each channel (`nn.AdaptiveMaxPool2d(1)`), `nn.Flatten()` and one `nn.Linear` to the 10 classes. That network has 136,930 parameters. With the training cell below it reached 77.8% in 164 seconds on the course's 2-core test machine. {tricks}

Start from it, or from nothing, and try to make it better, smaller or faster. The points: 2 for reaching 70%, and 2 more for reaching it within 200,000 parameters (a small untrained network is within any budget, so the budget alone earns nothing). Then, after the check, a short paragraph on what you tried, graded by your instructor."""

PROMPT = """### Your own network: build it

Build your network as `own_model`, an `nn.Sequential`. The cell after it prints its parameter count; the one after that trains it, prints the time and the test accuracy, and saves it with `save_design(own_model)`, which refuses a layer outside the list above with a message that names it. Change the training cell too if you like (epochs, batch size, learning rate, augmentation), within the 5 minutes."""

SOLUTION = """seed_everything(SEED)
# BEGIN SOLUTION NO PROMPT
def fast_block(in_channels, out_channels):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(), nn.MaxPool2d(2))


head = [nn.Conv2d(96, 96, 3, padding=1, bias=False), nn.BatchNorm2d(96), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(96, 10)]
# END SOLUTION
own_model = nn.Sequential(fast_block(3, 24), fast_block(24, 48), fast_block(48, 96), *head)  # SOLUTION"""

COUNT = """print(f"{sum(p.numel() for p in own_model.parameters()):,} parameters (the budget: 200,000)")"""

TRAIN = """import time
from dlcourse import save_design

own_model.to(best_device())
own_train = CIFAR10(train=True, transform=v2.RandomHorizontalFlip())
own_epochs, own_batch = 4, 256
own_optimizer = torch.optim.SGD(own_model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
own_scheduler = torch.optim.lr_scheduler.OneCycleLR(own_optimizer, max_lr=0.4, epochs=own_epochs,
                                                    steps_per_epoch=-(-len(own_train) // own_batch))
start = time.perf_counter()
fit(own_model, own_train, optimizer=own_optimizer, epochs=own_epochs, batch_size=own_batch, prepare=prepare,
    scheduler=own_scheduler, loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1))
print(f"{time.perf_counter() - start:.0f} s:", evaluate(own_model, test_set, prepare=prepare))
save_design(own_model)"""

PUBLIC = '''""" # BEGIN TEST CONFIG
points: 0
success_message: "measured here as the grader measures it: the target reached within the budget"
""" # END TEST CONFIG
def test_own_network_here(own_model):
    from dlcourse.checks import check_design
    check_design(own_model)
'''

HIDDEN = '''""" # BEGIN TEST CONFIG
hidden: true
points: 4
""" # END TEST CONFIG
def test_own_network(own_model):
    from dlcourse.checks import check_design
    check_design(own_model)
'''

REPORT_PROMPT = """### Your own network (graded by your instructor): what did you try?

In four to six sentences: the network you submitted (its layers in a phrase, its parameters, its test accuracy, and the training time the cell printed, with the machine it ran on); what you changed from your first attempt or from the starting point, and what each change did to the accuracy or the time, with the figures you measured; and one thing that did not help, with your best explanation of why.

Write your answer in the cell below."""

REPORT_ANSWER = """*What a full answer says.* The submitted network with figures that agree with the grade (parameters, accuracy) and a training time within 5 minutes, and the machine it was measured on; at least one change tried against a measurement, each run differing from the other in that one change, with its effect on accuracy or time; and a reason for what did not help that uses the lesson's ideas (too few epochs for a larger network to fit in the time, a budget spent on a wide first layer that is slow at full resolution, dropout that slows fitting when the network is already small, augmentation that needs more epochs to pay off). The reference: the starting network, 136,930 parameters, 77.8% in 164 seconds on the course's 2-core machine; a wider first block (32 filters) costs time at full resolution for little accuracy, and the global max pooling keeps the parameter count small where a flattened 4 × 4 × 96 map would need a large dense layer.

*Rubric (2 points).* 1 point for a description whose figures (parameters, accuracy, seconds, machine) agree with the submission and the time limit. 1 point for at least one change compared with a measurement, with a reason drawn from the lesson (capacity, time per epoch, regularization, the learning-rate schedule)."""

new = [
    md(INTRO),
    raw("# BEGIN QUESTION\nname: own_network\npoints: 4\ncheck_cell: false"),
    md(PROMPT),
    raw("# BEGIN SOLUTION"),
    code(SOLUTION),
    raw("# END SOLUTION"),
    code(COUNT, ["otter_ignore"]),
    code(TRAIN, ["otter_ignore", "challenge"]),
    raw("# BEGIN TESTS"),
    code(PUBLIC),
    code(HIDDEN),
    raw("# END TESTS"),
    raw("# END QUESTION"),
    code('grader.check("own_network")', ["challenge"]),
    raw("# BEGIN QUESTION\nname: own_network_report\nmanual: true\npoints: 2"),
    md(REPORT_PROMPT),
    raw("# BEGIN SOLUTION"),
    md(REPORT_ANSWER),
    raw("# END SOLUTION"),
    raw("# END QUESTION"),
]
cells[start:start + 2] = new
json.dump(nb, open(PATH, "w"), indent=1, ensure_ascii=False)
open(PATH, "a").write("\n")
print("replaced cells", start, start + 1, "with", len(new))
