"""One side of one case in this (fresh) process: how long until the first step is done, and how
much memory training steps add. Prints one JSON line.

    python benchmarks/first_step.py transformer numba       # EDF_CACHE_DIR decides cold or warm

- ``import``: seconds to import the side's library (edf with numba, or torch);
- ``first_step``: seconds from building the model to the end of its first step (edf: the
  program, its plans, compiling or loading kernels; numba's cache is ``$EDF_CACHE_DIR``);
- ``steps``: the next three steps, in seconds;
- ``added_mb``: peak resident memory over those first four steps minus the resident memory after
  building the model and its inputs (Linux: ``/proc/self/status``, the peak reset with
  ``clear_refs``), in MB.

``benchmarks/bench.py --first-step`` runs it in fresh processes, cold and warm, alternating sides.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _status(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(case: str, side: str) -> dict:
    start = time.perf_counter()
    if side == "torch":
        import torch  # noqa: F401
    else:
        import edf  # noqa: F401  (before NumPy: it sets how OpenBLAS idles)
    imported = time.perf_counter()
    from benchmarks import models
    if side == "torch":
        loss, leaves = models.torch_convnet(case) if case in models.CONVNETS else models.torch_transformer()
    elif case in models.CONVNETS:
        stages, batch, size = models.CONVNETS[case]
        prog, inputs, _ = models.edf_convnet(side, stages, batch, size)
    else:
        prog, inputs, _ = models.edf_transformer(side)
    setup_rss = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
    built = time.perf_counter()

    def step():
        if side == "torch":
            for leaf in leaves.values():
                leaf.grad = None
            loss().backward()
        else:
            prog.forward(**inputs)
            prog.backward(wrt=prog.float_inputs)  # the data too, as the PyTorch peer does

    step()
    first = time.perf_counter()
    steps = []
    for _ in range(3):
        began = time.perf_counter()
        step()
        steps.append(time.perf_counter() - began)
    return {"case": case, "side": side, "import": imported - start,
            "first_step": first - imported,
            "build": built - imported, "steps": steps, "added_mb": _status("VmHWM") - setup_rss}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], sys.argv[2])))
