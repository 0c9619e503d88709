"""The untrusted half of grading: run a submitted notebook, then relay the judge's questions.

This module runs inside the sandbox, as the sandbox's user, beside the student's kernel;
the judge (:mod:`.judge`) starts it and talks to it over its stdin and stdout:

1. each code cell of the notebook runs in a ``python3`` kernel, whatever kernelspec the
   notebook was saved with; cells tagged ``otter_ignore`` (training, plots) and cells of
   nothing but ``grader.check``/``grader.export`` calls are left out. Before each cell the
   judge hears ``{"event": "cell"}`` (so a timeout can say where it struck), and after the
   last ``{"event": "ready"}`` with the executed notebook;
2. then each request the judge sends is answered by the kernel and the answer is passed
   back, until the judge sends ``{"op": "done"}``: one more cell, :func:`.oracle.serve`,
   answers them all, over a pair of pipes (:class:`KernelOracle`).

No test, hidden or public, ever reaches this process or its folder, and nothing it says is
taken on trust: an answer is only ever the student's answer.

With ``--held`` (a batch worker's next kernel, kernel_pool.py) it starts the kernel and
imports torch before the submission is staged, then waits for the judge's ``{"op": "go"}``
and moves the kernel into the notebook's folder (:mod:`.kernel_warmth`); without a ``go``
it shuts the kernel down and ends.

Folder it works in (the only one it may write)::

    RUN/submission/   the notebook and the files that came with it; the kernel's working directory
    RUN/home/         HOME: kernel connection files, IPython's profile, caches
    RUN/oracle/       the pipes requests and answers take to and from the kernel
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import nbformat

from ..execute import IGNORE_TAG, kernel_manager
from .kernel_oracle import KernelOracle, KernelStuck
from .wire import read_message, write_message

OUTPUT_LIMIT = 100_000        # characters of printed text kept per cell in the executed notebook
NOTEBOOK_OUTPUTS = 10 * 2**20  # characters of output (text, images, HTML) kept in the whole notebook
PR_SET_DUMPABLE = 4         # prctl(2): a process that is not dumpable cannot be traced by its own user
OTTER_CALL = re.compile(r"grader\.(check|check_all|export)\(.*\)")
CUDA_CELL = "__import__('dlcourse.grading.cuda_on_cpu', fromlist=['install']).install({flag!r})"
TRIM_CELL = "__import__('dlcourse.grading.trim', fromlist=['after_each_cell']).after_each_cell(get_ipython(), {on!r})"
# A pre-started kernel (judge.py's pool): what it imports before its submission is known, and
# the move into the notebook's folder once it is (both leave no name in the notebook's namespace).
WARM_MODULES = ("torch",)   # ~2 s of every graded notebook's first cell; torchvision stays out (data.py)
WARM_CELL = "__import__('dlcourse.grading.kernel_warmth', fromlist=['warm']).warm({modules!r})"
ENTER_CELL = "__import__('dlcourse.grading.kernel_warmth', fromlist=['enter']).enter({folder!r})"
# The kernel's own stdout and stderr (file descriptors 1 and 2, and ipykernel's copies of them):
# not this runner's stderr, which the judge drains outside the run's CPU share (a kernel writing
# to them in a loop sent it 362 MB in 4 s, 0.66 s of its CPU; 14.7 GB in 8 s in a batch). What the
# notebook prints, with print or os.write, still reaches its cells' outputs (ipykernel captures
# both descriptors); only ipykernel's echo of it, and what the kernel writes past that capture,
# are dropped: no reader of the runner's stderr ever showed them.
KERNEL_STREAMS = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def main(run_dir: Path, held: bool = False) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    _undumpable()  # the kernel runs as this user: it must not trace this process and forge its reports
    channel = os.fdopen(os.dup(1), "wb")  # to the judge; everything else printed goes to the log
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    submission = run_dir / "submission"
    client: Any = None
    warmed: set[str] = set()
    try:
        if held:  # a pre-started kernel: warm it, then wait for the submission to be staged
            client, warmed = _warm_kernel(run_dir / "home")
            if not _go(requests):
                return  # never handed a submission (the batch ended): the kernel is shut down below
        # the only notebook staged: at the top, or in its own folder of the student's tree (submission.stage)
        notebook_path = min(submission.rglob("*.ipynb"), key=lambda path: (len(path.parts), str(path)))
        nb = nbformat.read(notebook_path, as_version=4)
        nb.cells = [c for c in nb.cells if c.cell_type == "code" and not _left_out(c)]
        client = _warm_kernel_entered(client, warmed, nb, notebook_path.parent) if client is not None else None
        if client is None:  # no pre-started kernel, or not one this submission may use: start one here
            client = NotebookClient(nb, km=kernel_manager(), allow_errors=True, timeout=None, shutdown_kernel="immediate",
                                    resources={"metadata": {"path": str(notebook_path.parent)}})
        with client.setup_kernel(cleanup_kc=True, **KERNEL_STREAMS):  # our manager: nbclient stops its kernel only if asked to
            cuda_flag = run_dir / "home" / "cuda-on-cpu"
            if _asks_for_cuda(nb, submission):
                _run_hidden(client, CUDA_CELL.format(flag=str(cuda_flag)))
            _run_hidden(client, TRIM_CELL.format(on=True))  # what each cell freed, before the next cell or the tests (trim.py)
            for index, cell in enumerate(nb.cells):
                write_message(channel, {"event": "cell", "source": cell.source[:2000]})
                client.execute_cell(cell, index)
            _run_hidden(client, TRIM_CELL.format(on=False))  # each answer trims on its own (oracle.py)
            _cap_outputs(nb)
            write_message(channel, {"event": "ready", "cell_errors": _cell_errors(nb), "cuda_on_cpu": cuda_flag.exists()},
                          [nbformat.writes(nb).encode()])
            _serve(client, requests, channel, run_dir / "oracle")
    except DeadKernelError as error:
        write_message(channel, {"event": "dead", "message": f"the notebook's kernel died ({error})"})
    finally:
        if client is not None:
            _shut_down(client)


def _warm_kernel(home: Path) -> tuple[Any, set[str]]:
    """A kernel started in ``home`` with :data:`WARM_MODULES` imported: the part of a kernel's
    start that needs no submission. No student code has run in it. Returns its client (None if
    it failed to start: the submission then gets a kernel of its own) and the top-level modules
    imported before the submission's folder was known (:func:`_shadows`)."""
    from nbclient import NotebookClient

    client = NotebookClient(nbformat.v4.new_notebook(), km=kernel_manager(), allow_errors=True, timeout=None,
                            shutdown_kernel="immediate", resources={"metadata": {"path": str(home)}})
    try:
        client.start_new_kernel(**KERNEL_STREAMS)
        client.start_new_kernel_client()
        outputs = _run_hidden(client, WARM_CELL.format(modules=WARM_MODULES))
    except Exception:
        _shut_down(client)
        return None, set()
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout")
    return client, set(printed.split()) | {"dlcourse"}   # the toolkit itself was imported to warm it


def _warm_kernel_entered(client, warmed: set[str], nb: nbformat.NotebookNode, folder: Path):
    """The pre-started kernel, moved into the notebook's ``folder``, as the client of ``nb``;
    None (the kernel shut down) where the submission must have a cold one: it ships a module
    the warming already imported, or the kernel did not survive its wait."""
    if not _shadows(folder, warmed):
        client.nb = nb
        try:
            _run_hidden(client, ENTER_CELL.format(folder=str(folder)))
            return client
        except Exception:
            pass
    _shut_down(client)
    return None


def _shut_down(client) -> None:
    if client.km is not None and client.km.has_kernel:
        client._cleanup_kernel()


def _go(requests: BinaryIO) -> bool:
    """Wait for the judge's word that the submission is staged; False if the judge hung up."""
    try:
        request, _ = read_message(requests)
    except (EOFError, ValueError):
        return False
    return isinstance(request, dict) and request.get("op") == "go"


def _shadows(folder: Path, warmed: set[str]) -> bool:
    """Whether ``folder`` (the notebook's, first on the kernel's module path) holds a module
    or package named like one the warming imported (a student's own ``torch.py``): a cold
    kernel would import the student's, so this one must not be used."""
    names = {entry.name.split(".")[0] for entry in folder.iterdir()}
    return bool(names & warmed)


def _serve(client, requests: BinaryIO, channel: BinaryIO, folder: Path) -> None:
    """Pass each request to the kernel and its answer back, until ``done``. (The executed
    notebook was sent already.) The kernel answers in one cell, :func:`.oracle.serve`, over a
    pair of pipes in ``folder``; that cell is started again if student code ended it."""
    folder.mkdir(exist_ok=True)
    oracle: KernelOracle | None = None
    try:
        while True:
            try:
                request, blobs = read_message(requests)
            except EOFError:
                return
            if request.get("op") == "done":
                return
            if oracle is not None and not oracle.serving:
                oracle.close()   # a cell still reading its pipe (it garbled an answer) returns
                oracle = None
            oracle = oracle or KernelOracle(client, folder)
            try:
                body, answer_blobs = oracle.ask(request, blobs, max(1, int(request.get("timeout", 60))))
            except KernelStuck:
                write_message(channel, {"event": "stuck"})
                continue
            write_message(channel, {"event": "answer", "answer": body}, answer_blobs)
    finally:
        if oracle is not None:
            oracle.close()


def _asks_for_cuda(nb: nbformat.NotebookNode, submission: Path) -> bool:
    """Whether the notebook's code or the student's modules mention CUDA: only then does the
    kernel serve CUDA requests with the CPU (:mod:`.cuda_on_cpu`), at the cost of a check on
    each torch call."""
    if any("cuda" in cell.source for cell in nb.cells):
        return True
    modules = sorted(submission.rglob("*.py"))[:200]
    return any("cuda" in path.read_text(errors="replace") for path in modules if path.stat().st_size < 2**20)


def _run_hidden(client, source: str) -> list:
    """Run ``source`` in the kernel as a cell that is not part of the executed notebook; its outputs."""
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
    finally:
        client.nb.cells.pop()
    return cell.get("outputs", [])


def _left_out(cell: nbformat.NotebookNode) -> bool:
    """Cells grading skips: tagged ``otter_ignore``, or nothing but grader calls (and comments)."""
    if IGNORE_TAG in cell.metadata.get("tags", []) or cell.metadata.get("otter", {}).get("ignore"):
        return True
    lines = [line.strip() for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return bool(lines) and all(OTTER_CALL.fullmatch(line) for line in lines)


def _cap_outputs(nb: nbformat.NotebookNode, limit: int = OUTPUT_LIMIT, total: int = NOTEBOOK_OUTPUTS) -> None:
    """Keep each cell's printed text to ``limit`` characters and the whole notebook's output to
    ``total``: a flood of text, images or HTML must not make the executed notebook that
    instructors open megabytes long. Text is cut; a displayed value that does not fit is left
    out whole (half an image is no image); a note says how much was cut."""
    for cell in nb.cells:
        text_room, kept, cut = limit, [], 0
        for output in cell.get("outputs", []):
            text = output.get("text")
            if isinstance(text, str):
                keep = text[:max(0, min(text_room, total))]
                text_room -= len(keep)
                if keep:
                    output["text"] = keep
                    kept.append(output)
                size, used = len(text), len(keep)
            else:
                size = len(json.dumps(output))
                used = size if size <= total else 0
                if used:
                    kept.append(output)
            cut += size - used
            total -= used
        if cut:
            kept.append(nbformat.v4.new_output("stream", name="stdout",
                                               text=f"\n[... {cut:,} more characters of output cut by the grader]\n"))
            cell["outputs"] = kept


def _undumpable() -> None:
    """Make this process undumpable: its user (the kernel's) can then neither ptrace it nor
    open its memory or file descriptors through /proc."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


# Terminal colour codes (torch's own messages carry some): plain text for reasons and CSVs.
_ANSI_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _cell_errors(nb: nbformat.NotebookNode) -> list[str]:
    errors = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
                evalue = _ANSI_CODE.sub("", str(output.get("evalue") or "")).splitlines()
                errors.append(f'cell "{first_line}" raised {output.get("ename")}: {evalue[0] if evalue else ""}'.rstrip(": "))
    return errors


if __name__ == "__main__":
    os.umask(0o077)
    main(Path(sys.argv[1]), held="--held" in sys.argv[2:])
