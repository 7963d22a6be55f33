"""The numpy target against np.einsum and hand-written NumPy, statement shape by statement shape."""
import numpy as np
import pytest

import edf
from edf.kernels.lower import split_terms
from edf.kernels.access import choose_shifts
from edf.notation import parse_statement


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def run(text, **inputs):
    fast = edf.Program(text).forward(**inputs)
    slow = edf.Program(text, backend="reference").forward(**inputs)
    target = edf.Program(text).statements[-1].target.name
    np.testing.assert_allclose(fast[target], slow[target], rtol=1e-10, atol=1e-12)
    return fast[target]


def test_matmul_and_batched_matmul(rng):
    x, W, A = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 5, 3))
    np.testing.assert_allclose(run("for b, i, j: h[b, j] += x[b, i] * W[i, j]", x=x, W=W), x @ W)
    np.testing.assert_allclose(run("for n, b, i, j: h[n, b, j] += A[n, b, i] * W[i, j]", A=A, W=W), A @ W)
    B = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(run("for n, b, i, j: h[n, b, j] += A[n, b, i] * B[n, i, j]", A=A, B=B),
                               np.einsum("nbi,nij->nbj", A, B))


def test_three_factor_contraction_and_sums_of_terms(rng):
    a, b, c = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(5, 2))
    np.testing.assert_allclose(run("for i, j, k, l: y[i, l] += a[i, j] * b[j, k] * c[k, l]", a=a, b=b, c=c),
                               a @ b @ c)
    np.testing.assert_allclose(run("for i, j: y[i] += a[i, j] * 2 - a[i, j] / 4 + d[i]", a=a, d=b[:3, 0]),
                               a.sum(1) * 1.75 + 4 * b[:3, 0])


def test_convolution_shift_and_gemm(rng):
    W, L = rng.normal(size=(3, 3, 2, 4)), rng.normal(size=(2, 7, 6, 2))
    out = run("for b, x, y, dx, dy, i, j: O[b, x, y, j] += W[dx, dy, i, j] * L[b, x+dx, y+dy, i]", W=W, L=L)
    windows = np.lib.stride_tricks.sliding_window_view(L, (3, 3), axis=(1, 2))
    np.testing.assert_allclose(out, np.einsum("bxyiuv,uvij->bxyj", windows, W))


def test_scatter_form_target(rng):
    """The input-gradient of a convolution writes through x+dx: summed by shifts, no atomics."""
    W, G = rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 5, 4))
    text = "for b, x, dx, i, j: Lg[b, x+dx, i] += W[dx, i, j] * G[b, x, j]"
    out = run(text, W=W, G=G)
    expected = np.zeros((2, 7, 2))
    for dx in range(3):
        expected[:, dx:dx + 5] += np.einsum("ij,bxj->bxi", W[dx], G)
    np.testing.assert_allclose(out, expected)


def test_diagonals_and_traces(rng):
    A = rng.normal(size=(4, 4))
    np.testing.assert_allclose(run("for i: t += A[i, i]", A=A), np.trace(A))
    np.testing.assert_allclose(run("for i: d[i] = A[i, i] * 2", A=A), 2 * np.diag(A))


def test_max_reduction_and_softmax(rng):
    z = rng.normal(size=(3, 5))
    np.testing.assert_allclose(run("for b, k: m[b] max= z[b, k]", z=z), z.max(1))
    text = """
    for b, k: m[b] max= z[b, k]
    for b, k: e[b, k] = exp(z[b, k] - m[b])
    for b, k: s[b] += e[b, k]
    for b, k: p[b, k] = e[b, k] / s[b]
    """
    np.testing.assert_allclose(run(text, z=z), np.exp(z) / np.exp(z).sum(1, keepdims=True))


def test_embedding_gather_and_scatter(rng):
    E, tok = rng.normal(size=(5, 3)), np.array([[0, 4, 4], [2, 0, 1]])
    np.testing.assert_allclose(run("for b, t, d: y[b, t, d] = E[tok[b, t], d]", E=E, tok=tok), E[tok])
    prog = edf.Program("for b, t, d: y[b, t, d] = E[tok[b, t], d]")
    prog.forward(E=E, tok=tok)
    G = rng.normal(size=(2, 3, 3))
    expected = np.zeros((5, 3))
    np.add.at(expected, tok, G)  # repeated tokens accumulate
    np.testing.assert_allclose(prog.backward({"y": G})["E"], expected)


def test_zero_d_tensors_constants_and_broadcasts(rng):
    x, w = rng.normal(size=(3, 2)), rng.normal(size=4)
    np.testing.assert_allclose(run("for i, j: s += x[i, j] * x[i, j]", x=x), (x * x).sum())
    np.testing.assert_allclose(run("for i, j: y[i, j] = x[i, j] * c + 1", x=x, c=np.array(2.0)), 2 * x + 1)
    np.testing.assert_allclose(run("for i, k: y[i, k] += x[i, 0] * w[k]", x=x, w=w), np.outer(x[:, 0], w))
    # a summed index the term does not mention multiplies it by the range
    np.testing.assert_allclose(run("for i, j: y[i] += x[i, j] + 1", x=x), x.sum(1) + 2)


def test_shift_choice_keeps_the_large_index_free():
    stmt = parse_statement("for b, x, dx: y[b, x] += L[b, x+dx] * K[dx]")
    assert choose_shifts(stmt, {"b": 8, "x": 30, "dx": 3}) == []  # reads need no shifts
    scatter = parse_statement("for b, x, dx: g[b, x+dx] += K[dx] * G[b, x]")
    assert choose_shifts(scatter, {"b": 8, "x": 30, "dx": 3}) == ["dx"]


def test_terms_and_coefficients():
    stmt = parse_statement("for i: y[i] += -2 * a[i] * b[i] / 4 - c[i]")
    assert [(coef, len(factors)) for coef, factors in split_terms(stmt.body)] == [(-0.5, 2), (-1.0, 1)]


def test_one_to_one_targets_are_written_through_one_view():
    from edf.kernels.lower import one_to_one
    from edf.ir import Affine

    ranges = {"x": 16, "px": 2, "py": 3, "dx": 3}
    assert one_to_one(Affine((("x", 2), ("px", 1))), ranges)  # a 2x2 pool's window, stride 2
    assert not one_to_one(Affine((("x", 2), ("py", 1))), ranges)  # a window of 3, stride 2: overlaps
    assert not one_to_one(Affine((("x", 1), ("dx", 1))), ranges)  # a convolution
    assert one_to_one(Affine((("x", -3), ("py", 1)), 50), ranges)  # reversed, with an offset
    pool = parse_statement("for b, x, px, c: g[b, 2*x+px, c] += G[b, x, c] * (a[b, 2*x+px, c] == m[b, x, c])")
    assert choose_shifts(pool, {"b": 2, "x": 5, "px": 2, "c": 3}) == []
    assert choose_shifts(pool, {"b": 2, "x": 5, "px": 3, "c": 3}) == ["px"]


@pytest.mark.parametrize("window, stride", [(2, 2), (3, 2), (2, 3), (3, 1), (5, 5)])
def test_pooling_forward_and_backward_on_every_window(rng, window, stride):
    """Max and average pooling and their gradients, windows overlapping or not, against the
    reference: the one-view writes and the unrolled small-window reductions."""
    text = f"""
    range px = {window}, py = {window}
    for b, x, y, px, py, c: m[b, x, y, c] max= a[b, {stride}*x+px, {stride}*y+py, c]
    for b, x, y, px, py, c: s[b, x, y, c] += a[b, {stride}*x+px, {stride}*y+py, c] / {window * window}
    for b, x, y, c: loss += m[b, x, y, c] * G[b, x, y, c] + s[b, x, y, c] * H[b, x, y, c]
    """
    size = stride * 3 + window
    a = rng.permutation(2 * 9 * size * size).reshape(2, size, size, 9).astype(float)  # no ties
    out = (size - window) // stride + 1
    G, H = rng.normal(size=(2, out, out, 9)), rng.normal(size=(2, out, out, 9))
    run(text, a=a, G=G, H=H)
    fast, slow = edf.Program(text), edf.Program(text, backend="reference")
    for prog in (fast, slow):
        prog.forward(a=a, G=G, H=H)
    np.testing.assert_allclose(fast.backward("loss")["a"], slow.backward("loss")["a"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3, 16, 40])
def test_convolution_input_gradient_per_shift_or_in_one_product(rng, channels):
    """The scattered input gradient of a convolution, as one matrix product per shift (wide
    enough outputs) or as one product and a shift-major copy (narrow ones), with padding."""
    text = """
    shape P = L + (0, 2, 2, 0)
    for b, x, y, c: P[b, x+1, y+1, c] = L[b, x, y, c]
    for b, x, y, dx, dy, i, j: O[b, x, y, j] += W[dx, dy, i, j] * P[b, x+dx, y+dy, i]
    for b, x, y, j: loss += O[b, x, y, j] * G[b, x, y, j]
    """
    L, W, G = rng.normal(size=(2, 5, 4, channels)), rng.normal(size=(3, 3, channels, 6)), rng.normal(size=(2, 5, 4, 6))
    fast, slow = edf.Program(text), edf.Program(text, backend="reference")
    for prog in (fast, slow):
        prog.forward(L=L, W=W, G=G)
    for name in ("L", "W"):
        np.testing.assert_allclose(fast.backward("loss")[name], slow.backward("loss")[name], rtol=1e-10, atol=1e-12)


def test_dot_products_per_batch_element(rng):
    """Every index either summed or in both factors: a product and a sum, not 1 x 1 matrix products."""
    e, s = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5))
    np.testing.assert_allclose(run("for b, h, t, u: m[b, h, t] += -(e[b, h, t, u] * s[b, h, t, u])", e=e, s=s),
                               -np.einsum("bhtu,bhtu->bht", e, s))
    c, v, g = rng.normal(size=(3, 4, 6)), rng.normal(size=(3, 4)) ** 2 + 1, rng.normal(size=(3, 4, 6))
    np.testing.assert_allclose(run("for b, t, i: gain[i] += c[b, t, i] / sqrt(v[b, t]) * g[b, t, i]", c=c, v=v, g=g),
                               np.einsum("bti,bt,bti->i", c, 1 / np.sqrt(v), g))


def test_a_denominator_on_fewer_indices_is_a_factor_of_its_own(rng):
    """sum_u a[t, u] / c[t] is (sum_u a[t, u]) / c[t]: the division leaves the sum."""
    g, e, s = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4)) ** 2 + 1
    np.testing.assert_allclose(run("for b, t, u: y[b, t] += -(g[b, t, u] * e[b, t, u] / s[b, t] ** 2)", g=g, e=e, s=s),
                               -(g * e).sum(-1) / s ** 2)
    assert len(split_terms(parse_statement("for b, t, u: y[b, t] += g[b, t, u] / s[b, t]").body)[0][1]) == 2
    assert len(split_terms(parse_statement("for b, t: y[b] += g[b, t] / e[b, t]").body)[0][1]) == 1  # same indices


def plan_of(text, given) -> str:
    """The generated NumPy of a one-statement program (and its values checked against the reference)."""
    run(text, **given)
    return edf.Program(text).kernel_sources(**given).split("--- the whole program as one function")[1]


@pytest.mark.parametrize("text, names", [
    ("for b, t, i: var[b, t] += c[b, t, i] ** 2 / 8", "c"),  # a layer norm's variance: along rows
    ("for b, t, i: gain[i] += c[b, t, i] / sqrt(v[b, t] + 1e-05) * g[b, t, i]", "cvg"),  # its gain's gradient
])
def test_elementwise_work_reads_the_largest_tensor_in_memory_order(rng, text, names):
    """Summed indices go where the largest tensor read has them, so no pass reads it transposed
    (a transposed pass was 3-7x slower here); a square is ``np.square``, not the slower ``pow``."""
    shapes = dict(c=(4, 6, 8), v=(4, 6), g=(4, 6, 8))
    plan = plan_of(text, {name: rng.normal(size=shapes[name]) ** 2 for name in names})
    assert ".transpose(" not in plan and "np.power" not in plan


def test_sums_of_products_are_one_einsum_pass_named_by_the_indices(rng):
    """A product summed down (a sum of squares, row dot products, a softmax's row sums) is one
    np.einsum call with no temporary, its subscripts the statement's own index names."""
    c = rng.normal(size=(4, 6, 8))
    assert "np.einsum('bti,bti->bt', c, c, out=var)" in plan_of("for b, t, i: var[b, t] += c[b, t, i] ** 2", dict(c=c))
    assert "np.einsum('buk->bu', e, out=s)" in plan_of("for b, u, k: s[b, u] += e[b, u, k]", dict(e=c))
    # a window across rows (a 2x2 pool's sum) stays one call per point: einsum is slower there
    pool = "range x = 3\nrange p = 2\nfor b, x, p, c: s[b, x, c] += e[b, 2*x+p, c]"
    assert "np.einsum" not in plan_of(pool, dict(e=c))


@pytest.mark.parametrize("text, shape", [
    ("for b, x, y, j: g[j] += e[b, x, y, j]", (6, 4, 3, 5)),  # a convolution's bias gradient: leading axes
    ("for b, x, j: g[b, j] += e[b, x, j]", (3, 20, 4)),  # a middle axis, past a small window
    ("for b, j: g[j] += e[b, j]", (40, 7)),  # an affine layer's bias gradient
])
def test_sums_over_more_than_a_small_window_are_one_einsum_pass(rng, text, shape):
    """A float sum over more points than a small window is one np.einsum pass wherever memory
    runs (NumPy's np.sum over leading axes was 3.5 times slower on a bias gradient); the same
    numbers as the reference."""
    plan = plan_of(text, dict(e=rng.normal(size=shape)))
    assert "np.einsum(" in plan and "np.sum(" not in plan


def test_integer_sums_and_large_maxima_stay_numpy_reductions(rng):
    """einsum is for floats: a count of a mask sums booleans as integers with np.sum, and a max
    over many points is np.max."""
    e = rng.normal(size=(30, 4))
    assert "np.max(" in plan_of("for b, j: m[j] max= e[b, j]", dict(e=e))
    counted = edf.Program("for b, j: n[j] += (e[b, j] > 0)").forward(e=e)["n"]
    np.testing.assert_array_equal(counted, (e > 0).sum(axis=0))
