#!/usr/bin/env bash
# Make .venv-cpu: this project with the CPU build of torch, the build Gradescope's image
# installs (dlcourse build's setup.sh), for benchmarks/gradescope_emulation.py.
#
#   benchmarks/cpu_env.sh
#
# Where PyTorch's CPU index cannot be reached, name a local CPU wheel of torch and the
# torchvision release that matches it; torchvision then comes from PyPI, a CUDA build whose
# C++ extension cannot load against CPU torch. The course uses none of those ops (detection
# ops such as nms), but torchvision registers fake kernels for two of them at import, which
# is switched off below, so that its Python parts import.
#
#   CPU_TORCH_WHEEL=/path/to/torch-X+cpu-....whl TORCHVISION=0.Y.Z benchmarks/cpu_env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-cpu
PIP=".venv-cpu/bin/pip install -q"
if [[ -z "${CPU_TORCH_WHEEL:-}" ]]; then
    $PIP --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1
else
    $PIP "$CPU_TORCH_WHEEL" "torchvision==${TORCHVISION:?set TORCHVISION to the release matching the wheel}"
    .venv-cpu/bin/python - <<'PY'
import importlib.util, pathlib
path = pathlib.Path(importlib.util.find_spec("torchvision").submodule_search_locations[0]) / "_meta_registrations.py"
text = path.read_text()
for op in ("nms", "qnms"):
    text = text.replace(f'@torch.library.register_fake("torchvision::{op}")\n', f"# (no C++ ops) torchvision::{op}\n")
path.write_text(text)
PY
fi
$PIP -e .
.venv-cpu/bin/python -c "import torch, torchvision; assert torch.version.cuda is None; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
