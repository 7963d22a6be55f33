"""Passes that make a convolution's matrix products a block of images at a time: the window
copied for a product (im2col), and the shifted products of an input gradient (col2im), each in a
buffer reused for every block and small enough to stay in the cache."""
from __future__ import annotations

from edf.kernels.ops import Call, Op
from edf.kernels.plan import Buffer, Plan, View

# a window copied for a matrix product is copied at most this many bytes at a time
BLOCK_BYTES = 2 << 20


def windows_in_blocks(plan: Plan) -> Plan:
    """A matrix product reading a copy of a window (im2col: ``np.copyto(t, window)`` then
    ``np.matmul(t.reshape(m, k), W)``) copies and multiplies one slice of the copy's first axis
    (a block of images) at a time: the copy is a small buffer reused for every block, not 9 x the
    layer's input, and each product reads it while it is still in the cache.

    The VGG-like CNN's largest window (32 images of 32x32x32, 3x3) is 38 MB copied whole, 2 MB a
    block; a step's memory falls by that much, and the copy no longer goes out to main memory."""
    ops, uses = plan.ops, _uses(plan.ops)
    out: list[Op] = []
    chosen: dict[int, list[str]] = {}
    k = 0
    while k < len(ops):
        op = ops[k]
        product = _its_product(ops, k, uses)
        if product is None:
            out.append(op)
            k += 1
            continue
        index, blocks = product
        out += ops[k + 1:index]  # what lies between them (the other operand's copy) comes first
        out += _blocked(plan, op, ops[index], blocks)
        count = len(range(0, op.out.shape[0], blocks))
        chosen.setdefault(op.statements[0], []).append(
            f"its window's copy ({op.out.buffer.nbytes / 1e6:.1f} MB) is made in {count} blocks of {blocks} "
            f"along its first index, each multiplied while in the cache")
        k = index + 1
    plan = plan.with_ops(out)
    plan.note("windows_in_blocks", len(chosen), f"{len(chosen)} window copies made a block at a time", chosen)
    return plan


def _uses(ops: list[Op]) -> dict[int, int]:
    found: dict[int, int] = {}
    for op in ops:
        for buffer in op.buffers():
            found[id(buffer)] = found.get(id(buffer), 0) + 1
    return found


def _its_product(ops: list[Op], k: int, uses: dict[int, int]) -> tuple[int, int] | None:
    """Where the matrix product reading the window copy made by ``ops[k]`` is, and how many
    slices of the copy's first axis to take at a time; None where ``ops[k]`` is no such copy."""
    op = ops[k]
    if not (isinstance(op, Call) and op.function == "copyto" and op.out is not None and op.out.whole
            and op.out.buffer.role == "temp" and isinstance(op.args[0], View)
            and any(step.kind == "strided" for step in op.args[0].steps)
            and op.out.buffer.nbytes > BLOCK_BYTES and uses[id(op.out.buffer)] == 2):
        return None
    copy = op.out.buffer
    for index in range(k + 1, min(k + 4, len(ops))):
        later = ops[index]
        if isinstance(later, Call) and later.function == "matmul" and later.out is not None:
            side = [n for n, a in enumerate(later.args) if isinstance(a, View) and a.buffer is copy]
            if len(side) != 1 or len(later.out.shape) != 2 or later.args[side[0]].steps[0].kind != "reshape":
                return None
            first = copy.shape[0]
            blocks = max(1, BLOCK_BYTES // (copy.nbytes // first))  # slices of the first axis at a time
            return (index, blocks) if blocks < first else None
    return None


def _blocked(plan: Plan, copy_op: Call, product: Call, blocks: int) -> list[Op]:
    """The copy and the product, one block of the copy's first axis at a time. The copy read as
    the left operand gives a block of the product's rows; as the right one, a block of the sum
    (added up: the first block writes the product, each later one adds to it)."""
    copy, window, where = copy_op.out.buffer, copy_op.args[0], copy_op.statements
    first = copy.shape[0]
    work = Buffer(plan.fresh("t"), (blocks, *copy.shape[1:]), copy.dtype, "temp").view()
    left, right = product.args
    per_row = (left.shape[0] if left.buffer is copy else right.shape[0]) // first  # rows of one slice
    ops: list[Op] = []
    for start in range(0, first, blocks):
        count = min(blocks, first - start)  # the last block may be smaller: the start of the buffer
        rows = slice(start * per_row, (start + count) * per_row)
        part_of_work = work if count == blocks else work.index((slice(0, count),))
        ops.append(Call(function="copyto", args=(window.index((slice(start, start + count),)),),
                        out=part_of_work, statements=where))
        if left.buffer is copy:  # a block of rows
            block = part_of_work.reshaped((count * per_row, left.shape[1]))
            ops.append(Call(function="matmul", args=(block, right), out=product.out.index((rows,)), statements=where))
            continue
        block = part_of_work.reshaped((count * per_row, right.shape[1]))
        part = left.index((slice(None), rows))
        if start == 0:
            ops.append(Call(function="matmul", args=(part, block), out=product.out, statements=where))
        else:  # the sum over this block, added to the product
            partial = Buffer(plan.fresh("t"), product.out.shape, product.out.dtype, "temp").view()
            ops += [Call(function="matmul", args=(part, block), out=partial, statements=where),
                    Call(function="add", args=(product.out, partial), out=product.out, statements=where)]
    return ops


def shifts_in_blocks(plan: Plan) -> Plan:
    """The products a convolution's input gradient adds back one shift at a time (col2im: one
    matrix product per shift, ``np.matmul(g, W, out=t)`` of shape (9, B x X x Y, I), then 9 shifted
    adds) are made a block of images at a time: the product is a buffer reused for every block,
    not 9 x the layer's input.

    The VGG-like CNN's second layer's is 38 MB made whole, 2 MB a block."""
    readers: dict[int, list[int]] = {}
    for k, op in enumerate(plan.ops):
        for buffer in {id(b) for b in op.buffers()}:
            readers.setdefault(buffer, []).append(k)
    out: list[Op] = []
    chosen: dict[int, list[str]] = {}
    skip: set[int] = set()
    for k, op in enumerate(plan.ops):
        if k in skip:
            continue
        writes = _shifted_adds(plan.ops, k, readers)
        if writes is None:
            out.append(op)
            continue
        blocked, blocks = _blocked_shifts(plan, op, [plan.ops[w] for w in writes])
        out += blocked
        skip.update(writes)
        chosen.setdefault(op.statements[0], []).append(
            f"its shifted products ({op.out.buffer.nbytes / 1e6:.1f} MB) are made {blocks} images at a time")
    plan = plan.with_ops(out)
    plan.note("shifts_in_blocks", len(chosen), f"{len(chosen)} input gradient(s) made a block at a time", chosen)
    return plan


def _shifted_adds(ops: list[Op], k: int, readers: dict[int, list[int]]) -> list[int] | None:
    """Where the shifted adds of the per-shift product ``ops[k]`` are, if it is one worth making a
    block at a time: a 3-d ``np.matmul`` into a temporary read only by adds (``Write``s) that
    follow it, each of one shift of it into a view of one tensor, over its images."""
    from edf.kernels.ops import Write

    op = ops[k]
    if not (isinstance(op, Call) and op.function == "matmul" and op.out is not None and op.out.whole
            and op.out.ndim == 3 and op.out.buffer.role == "temp" and op.out.buffer.nbytes > BLOCK_BYTES
            and isinstance(op.args[0], View) and op.args[0].ndim == 2):
        return None
    later = [w for w in readers[id(op.out.buffer)] if w != k]
    if len(later) != op.out.shape[0] or any(w < k for w in later):
        return None
    for w in later:
        write = ops[w]
        if not (isinstance(write, Write) and write.mode == "add" and hasattr(write.value, "names")
                and write.value.buffer is op.out.buffer and write.value.names[0] in write.target.names
                and len(write.value.view.steps) == 2 and write.value.view.steps[0].kind == "reshape"
                and write.value.view.steps[1].kind == "index"):
            return None
    return later


def _blocked_shifts(plan: Plan, product: Call, writes: list) -> tuple[list[Op], int]:
    """The product and its shifted adds, a block of the first index of the values (the images)
    at a time."""
    from edf.kernels.ops import Write
    from edf.kernels.plan import Named

    left, weights = product.args
    shifts, rows, columns = product.out.shape
    value = writes[0].value
    images, name = value.view.shape[0], value.names[0]
    per = rows // images  # rows of the product per image
    blocks = max(1, BLOCK_BYTES // (shifts * per * columns * product.out.dtype.itemsize))
    blocks = min(blocks, images)
    work = Buffer(plan.fresh("t"), (shifts, blocks * per, columns), product.out.dtype, "temp").view()
    laid = value.view.steps[0].args  # the product as (shift indices..., images, ...): its reshape
    ops: list[Op] = []
    for start in range(0, images, blocks):
        count = min(blocks, images - start)
        part = work if count == blocks else work.index((slice(None), slice(0, count * per)))
        ops.append(Call(function="matmul", args=(left.index((slice(start * per, (start + count) * per),)), weights),
                        out=part, statements=product.statements))
        shape = (*laid[:len(laid) - len(value.names)], count, *laid[len(laid) - len(value.names) + 1:])
        whole = part.reshaped(shape)
        for write in writes:
            point = write.value.view.steps[-1].args
            axis = write.target.names.index(name)
            target = write.target.view.index((slice(None),) * axis + (slice(start, start + count),))
            ops.append(Write(mode="add", target=Named(target, write.target.names),
                             value=Named(whole.index(point), write.value.names), statements=write.statements))
    return ops, blocks
