"""Fusion on the numba target (kernels.fuse): consecutive statements over the same elements run
in one loop nest, and only where that computes what running them one by one computes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edf
from edf.kernels import numba_cpu
from edf.kernels.fuse import fuse
from edf.kernels.lower import lower
from edf.notation import parse_statement


def agree_with_reference(source: str, inputs: dict) -> str:
    """Forward values and every gradient on numba equal the reference; returns the plan source."""
    tested, trusted = edf.Program(source, backend="numba"), edf.Program(source, backend="reference")
    inputs = {name: value for name, value in inputs.items() if name in trusted.inputs}
    got, want = tested.forward(**inputs), trusted.forward(**inputs)
    for name in trusted.defined:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-9, err_msg=name)
    seeds = {name: np.cos(np.arange(np.size(want[name]))).reshape(np.shape(want[name]))
             for name in trusted.outputs}
    got, want = tested.backward(seeds), trusted.backward(seeds)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-9, err_msg=name)
    return tested.kernel_sources(**inputs)


def nest(text: str, ranges: dict, shape: tuple):
    return lower(parse_statement(text), ranges, shape)


def test_bias_and_relu_and_the_log_sum_exp_chain_are_fused():
    source = """
    for b, j: h[b, j] += x[b, j] + b1[j]
    for b, j: a[b, j] = relu(h[b, j])
    for b, j: m[b] max= a[b, j]
    for b, j: se[b] += exp(a[b, j] - m[b])
    for b: lse[b] = m[b] + log(se[b])
    """
    rng = np.random.default_rng(0)
    plan = agree_with_reference(source, {"x": rng.normal(size=(4, 5)), "b1": rng.normal(size=5)})
    forward = plan[plan.index("the whole program"):]
    assert forward.count("(fused: one loop nest)") == 2, forward
    assert "# 1. for b, j: h[b, j] += x[b, j] + b1[j]\n        # 2. for b, j: a[b, j] = relu(h[b, j])" in forward
    assert "# 3. for b, j: m[b] max= a[b, j]\n        # 4." in forward
    # kernel_sources shows the fused kernels too: what k1 and k2 are
    assert "a kernel it calls:\n# these statements run fused, in one loop nest:" in forward
    assert "        out1[b] = acc\n" in forward  # m (out1) is fresh: set, not max-ed into a fill
    assert "# called with out1=m, out2=se, out3=lse, in1=a" in plan  # what the kernel's names stand for


def test_gradients_accumulating_into_one_tensor_are_fused(monkeypatch, capsys):
    """x is read twice, so x.grad gets two contributions: one loop nest adds both."""
    source = "for i, j: y[i, j] = tanh(x[i, j])\nfor i, j: z[i, j] = y[i, j] * x[i, j]\n" \
             "for i, j: loss += z[i, j]"
    x = np.random.default_rng(1).normal(size=(3, 4))
    assert edf.Program(source).gradient_program("loss").source().count("x.grad[i, j] +=") == 2
    monkeypatch.setenv("EDF_DEBUG", "1")  # prints each plan as it is made
    prog = edf.Program(source, backend="numba")
    prog.forward(x=x)
    capsys.readouterr()
    prog.backward("loss")
    backward = capsys.readouterr().out
    fused = backward[backward.index("def run(env)"):].split("(fused: one loop nest)")[0]
    assert fused.count("x.grad[i, j] +=") == 2, backward
    monkeypatch.delenv("EDF_DEBUG")
    agree_with_reference(source, {"x": x})


@pytest.mark.parametrize("second", [
    "for i, j: b[i, j] = a[j, i] * 2",        # reads a transposed: a[j, i] is not written yet
    "for i, j: b[i, j] += a[i, j] + a[j, i]",  # reads a at its point and elsewhere
    "for i, k: b[i, k] += a[k, i]",            # the reduction's read is transposed
])
def test_reads_away_from_the_point_are_not_fused(second):
    first = nest("for i, j: a[i, j] = exp(x[i, j])", {"i": 3, "j": 3}, (3, 3))
    assert fuse([first], nest(second, {"i": 3, "j": 3, "k": 3}, (3, 3))) is None
    x = np.random.default_rng(2).normal(size=(3, 3))
    plan = agree_with_reference(f"for i, j: a[i, j] = exp(x[i, j])\n{second}", {"x": x})
    assert "fused" not in plan


def test_a_later_statement_may_not_overwrite_what_an_earlier_one_reads_elsewhere():
    first = nest("for i, j: a[i, j] = x[j, i] + y[i, j]", {"i": 3, "j": 3}, (3, 3))
    second = nest("for i, j: y[i, j] = a[i, j] * 2", {"i": 3, "j": 3}, (3, 3))
    assert fuse([first], second) is not None  # y is read only at the point: fine
    third = nest("for i, j: y2[i, j] = a[i, j] * 2", {"i": 3, "j": 3}, (3, 3))
    fourth = nest("for i, j: a2[i, j] = y2[j, i]", {"i": 3, "j": 3}, (3, 3))
    assert fuse([first, third], fourth) is None


def test_other_shapes_scatter_and_windows_are_not_fused():
    first = nest("for i, j: a[i, j] = exp(x[i, j])", {"i": 3, "j": 4}, (3, 4))
    assert fuse([first], nest("for j, i: c[j, i] = x[i, j]", {"i": 3, "j": 4}, (4, 3))) is None
    assert fuse([first], nest("for i, j: s[i] += a[i, j]", {"i": 3, "j": 4}, (3,))) is None
    shifted = nest("for i, j, d: y[i, j+d] += a[i, j] * w[d]", {"i": 3, "j": 4, "d": 1}, (3, 4))
    assert fuse([first], shifted) is None  # a solved index with a guard: not a plain point


def test_inner_indices_are_renamed_apart():
    """Statement 2's inner index is named like statement 1's outer one, and statement 3's inner
    ``c`` has another extent than statement 2's: both are renamed, and the values are right."""
    source = """
    for b, c: m[b] max= z[b, c]
    for c, b: s[c] += exp(z[c, b] - m[c])
    for b, d: t[b] += u[b, d] * s[b]
    """
    rng = np.random.default_rng(3)
    plan = agree_with_reference(source, {"z": rng.normal(size=(4, 4)), "u": rng.normal(size=(4, 2))})
    assert plan.count("(fused: one loop nest)") >= 1


# -- the law: fused or not, a program computes what the reference computes -------------------
@st.composite
def chains(draw):
    """Statements over an n x n grid reading earlier targets at their point, transposed, or
    reduced along either axis; targets reused by several ``+=``."""
    n = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inputs = {"x": rng.normal(size=(n, n)), "v": rng.normal(size=n)}
    squares, vectors, lines = ["x"], ["v"], []
    open_sums: list[str] = []  # += targets not read yet: more += may follow
    for k in range(draw(st.integers(2, 5))):
        grid = draw(st.sampled_from(squares))
        if grid in open_sums:
            open_sums.remove(grid)
        order = draw(st.sampled_from(["i, j", "j, i"]))
        fn = draw(st.sampled_from(["tanh", "exp", "relu", "sigmoid"]))
        vector = draw(st.sampled_from(vectors))
        kind = draw(st.sampled_from(["map", "map", "reduce", "broadcast", "max"]))
        if kind == "map":
            if draw(st.booleans()):
                target, op = (open_sums[0] if open_sums and draw(st.booleans()) else f"s{k}"), "+="
                open_sums += [] if target in open_sums else [target]
            else:
                target, op = f"q{k}", "="
            lines.append(f"for i, j: {target}[i, j] {op} {fn}({grid}[{order}]) * 0.5")
            squares += [] if target in squares else [target]
        elif kind == "reduce":
            lines.append(f"for i, j: r{k}[i] += {grid}[{order}] * {vector}[j]")
            vectors.append(f"r{k}")
        elif kind == "broadcast":
            lines.append(f"for i, j: q{k}[i, j] = {grid}[{order}] - {vector}[i]")
            squares.append(f"q{k}")
        else:
            lines.append(f"for i, j: r{k}[i] max= {grid}[{order}] + {vector}[j]")
            vectors.append(f"r{k}")
    return "\n".join(lines), inputs


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_fused_chains_agree_with_the_reference(chain):
    source, inputs = chain
    agree_with_reference(source, inputs)


def test_fusion_uses_one_kernel_per_group():
    kernels = [numba_cpu.LoopKernel([lower(parse_statement(text), {"i": 2, "j": 3}, (2, 3))], np.float64)
               for text in ["for i, j: a[i, j] = exp(x[i, j])", "for i, j: b[i, j] = a[i, j] + 1"]]
    fused = kernels[0].fused_with(kernels[1])
    assert fused is not None and len(fused.nests) == 2
    assert fused.source().count("def kernel(") == 1
    assert "# these statements run fused, in one loop nest:" in fused.source()
