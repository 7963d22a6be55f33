"""The model-scale benchmark cases compute the same thing on both sides: edf's model and the
PyTorch peer (benchmarks/models.py) give the same loss and the same gradient for every input and
weight, so the times in BENCHMARKS.md compare like with like."""
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the oracle extra: pip install -e '.[oracle]'")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import models  # noqa: E402


@pytest.mark.parametrize("name", ["transformer", *models.CONVNETS])
def test_edf_and_pytorch_models_agree(name):
    if name in models.CONVNETS:
        stages, _, size = models.CONVNETS[name]
        model = models.edf_convnet("numpy", stages, 4, size)
        loss, leaves = models.torch_convnet(name, model=model)
    else:
        model = models.edf_transformer("numpy", batch=4)
        loss, leaves = models.torch_transformer(model=model)
    prog, inputs, _ = model
    values = prog.forward(**inputs)
    grads = prog.backward(wrt=prog.float_inputs)
    expected = loss()
    expected.backward()
    assert float(values[prog.output]) == pytest.approx(expected.item(), rel=1e-4)
    for leaf, tensor in leaves.items():
        source, layout = leaves.sources[leaf]
        mine = grads[source] if isinstance(source, str) else source.grad
        theirs = tensor.grad.numpy()
        scale = np.abs(theirs).max() + 1e-6
        assert np.abs(layout(mine) - theirs).max() <= 2e-4 * scale, leaf
