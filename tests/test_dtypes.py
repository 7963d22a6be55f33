"""One dtype rule on every target (edf.guards.compute_dtype): a program computes in float32 or
float64; float16 inputs are computed in float32, integer and boolean inputs in the type of the
floating-point inputs (float64 if there are none), and wider floats are refused by name."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edf
from edf.errors import ArgumentTypeError, EdfError
from edf.testing import programs

TARGETS = ["reference", "numpy", "numba"]
SOURCE = "for i, j: h[j] += x[i] * W[i, j]\nfor j: a[j] = tanh(h[j])\nfor j: loss += a[j]"


def inputs(dtype):
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=3).astype(dtype), "W": rng.normal(size=(3, 2)).astype(dtype)}


def run(backend, values, source=SOURCE):
    prog = edf.Program(source, backend=backend)
    forward = prog.forward(**values)
    return forward, prog.backward("loss")


@pytest.mark.parametrize("backend", TARGETS)
def test_float16_inputs_are_computed_in_float32(backend):
    half = inputs(np.float16)
    forward, grads = run(backend, half)
    want_forward, want_grads = run(backend, {n: v.astype(np.float32) for n, v in half.items()})
    for name in ("h", "a", "loss"):
        assert forward[name].dtype == np.float32
        np.testing.assert_array_equal(forward[name], want_forward[name])
    for name in half:
        assert grads[name].dtype == np.float32
        np.testing.assert_array_equal(grads[name], want_grads[name])


@pytest.mark.parametrize("backend", TARGETS)
@pytest.mark.parametrize("dtypes, computed", [
    ((np.float16, np.float64), np.float64),
    ((np.float16, np.float32), np.float32),
    ((np.int32, np.float32), np.float32),
    ((np.int64, np.int8), np.float64),
    ((np.bool_, np.uint8), np.float64),
    ((np.bool_, np.float16), np.float32),
])
def test_mixed_inputs_follow_one_rule(backend, dtypes, computed):
    x = np.array([1, 0, 1]).astype(dtypes[0])
    W = np.array([[1, 2], [0, 1], [3, 1]]).astype(dtypes[1])
    polynomial = "for i, j: h[j] += x[i] * W[i, j]\nfor j: loss += h[j] ** 2"  # exact in floats
    forward, grads = run(backend, {"x": x, "W": W}, polynomial)
    want, want_grads = run("reference", {"x": x.astype(computed), "W": W.astype(computed)}, polynomial)
    assert forward["loss"].dtype == computed and grads["W"].dtype == computed
    np.testing.assert_array_equal(forward["loss"], want["loss"])
    np.testing.assert_array_equal(grads["W"], want_grads["W"])


@pytest.mark.parametrize("backend", TARGETS)
def test_extended_precision_is_refused_naming_the_supported_dtypes(backend):
    wide = {"x": np.ones(3, np.longdouble), "W": np.ones((3, 2))}
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("on this platform longdouble is float64")
    prog = edf.Program(SOURCE, backend=backend)
    with pytest.raises(ArgumentTypeError, match=re.escape(
            f"input x holds {np.dtype(np.longdouble)}, which edf does not compute in; it computes "
            f"in float32 or float64 (float16 is computed in float32; integers and booleans in the "
            f"type of the floating-point inputs, else float64): convert it (.astype(np.float64))")):
        prog.forward(**wide)
    with pytest.raises(EdfError, match="which edf does not compute in"):
        edf.Parameter(np.ones(2, np.longdouble), name="W")


def test_a_float16_parameter_holds_float32():
    assert edf.Parameter(np.ones(2, np.float16)).value.dtype == np.float32


@pytest.mark.parametrize("backend", TARGETS)
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint32, np.int64, np.uint64])
def test_index_tensors_of_any_integer_type(backend, dtype):
    prog = edf.Program("for b, d: out[b, d] = E[tok[b], d]\nfor b, d: loss += out[b, d] ** 2",
                       backend=backend)
    E = np.arange(6.0).reshape(3, 2)
    out = prog.forward(tok=np.array([0, 2, 1, 2], dtype), E=E)["out"]
    np.testing.assert_array_equal(out, E[[0, 2, 1, 2]])
    np.testing.assert_array_equal(prog.backward("loss")["E"], 2 * E * [[1], [1], [2]])


@pytest.mark.parametrize("backend", TARGETS)
@pytest.mark.parametrize("dtype", [np.bool_, np.float32, np.float16])
def test_index_tensors_must_hold_integers(backend, dtype):
    prog = edf.Program("for b, d: out[b, d] = E[tok[b], d]", backend=backend)
    with pytest.raises(EdfError, match=f"tok is used as an index, so it must hold integers; got "
                                       f"{np.dtype(dtype)}"):
        prog.forward(tok=np.array([0, 1], dtype), E=np.ones((2, 2)))


def test_kernel_sources_follow_the_same_rule():
    prog = edf.Program(SOURCE, backend="numba")
    source = prog.kernel_sources(x=np.ones(3, np.float16), W=np.ones((3, 2), np.float16))
    assert "float32" in source and "float16" not in source
    assert "float64" in prog.kernel_sources(x=np.ones(3, np.int32), W=np.ones((3, 2), bool))


@settings(max_examples=20)
@given(case=programs(max_statements=3), backend=st.sampled_from(["reference", "numpy"]))
def test_any_program_computes_float16_as_float32(case, backend):
    """The law behind the rule: float16 inputs give exactly what their float32 values give."""
    prog = edf.Program(case.source, backend=backend, check_finite=False)
    half = {n: v.astype(np.float16) if v.dtype.kind == "f" else v for n, v in case.inputs.items()}
    single = {n: v.astype(np.float32) if v.dtype.kind == "f" else v for n, v in half.items()}
    got = {n: v.copy() for n, v in prog.forward(**half).items()}
    want = prog.forward(**single)
    for name in prog.defined:
        assert got[name].dtype == np.float32
        np.testing.assert_array_equal(got[name], want[name])
