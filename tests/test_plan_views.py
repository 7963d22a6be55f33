"""A plan's views (kernels.plan.View) know their shapes and strides without memory: each law is
checked against NumPy on real arrays."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edf.kernels.plan import Buffer, reshaped_strides


@st.composite
def strided_views(draw):
    """A real array viewed through a transpose and strided slices, and a shape of its size."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    view = np.zeros(shape, np.float32).transpose(draw(st.permutations(range(len(shape)))))
    view = view[tuple(slice(0, None, draw(st.integers(1, 2))) for _ in shape)]
    size, target = view.size, []
    for factor in draw(st.lists(st.sampled_from([1, 2, 3, 4]), max_size=5)):
        if size % factor == 0:
            target.append(factor)
            size //= factor
    target.append(size)
    return view, tuple(draw(st.permutations(target)))


@given(strided_views())
def test_reshaped_strides_agree_with_numpy(case):
    view, shape = case
    found = reshaped_strides(view, shape)
    copy = view.view()
    try:
        copy.shape = shape  # NumPy's own no-copy reshape
    except AttributeError:
        assert found is None
        return
    assert found is not None
    assert [s for s, n in zip(found, shape) if n != 1] == [s for s, n in zip(copy.strides, shape) if n != 1]


def test_a_placeholder_is_never_read():
    """A huge buffer's views cost no memory, and a reshape that would need a copy is refused
    without NumPy making one (which would read memory the placeholder does not have)."""
    buffer = Buffer("t", (1 << 20, 1 << 12), np.float32, "temp")
    view = buffer.view().transpose((1, 0))
    assert view.shape == (1 << 12, 1 << 20) and view.reshaped((1 << 32,)) is None
    assert view.index((slice(0, 8), 3)).shape == (8,)
