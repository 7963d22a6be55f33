"""edf.wire: values cross between the grader and a submission's process as data. Round trips
keep values, types and sharing; an object sent and changed comes back as an update applied in
place; and decoding whatever a hostile peer sends builds data or raises WireError, nothing else
(no IR with names or operators the parser would refuse, no object arrays, no other types)."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import edf
from edf import wire
from edf.ir import Binary, Call, Num, Ref, Statement
from edf.notation import parse_program, parse_statement
from edf.testing import expressions, statements


def lend(value):
    return {"lent": repr(value)}


def borrow(tag, payload):
    if tag != "lent":
        raise wire.WireError(f"unknown {tag}")
    return ("lent", payload)


def through_pipe(header, buffers):
    data = bytearray(b"".join(wire.frame(header, buffers)))
    position = 0

    def read(size):
        nonlocal position
        if position + size > len(data):
            raise EOFError
        position += size
        return data[position - size:position]

    return wire.read_frame(read)


def send(value):
    """(the copy the other side builds, the encoder, the frame as received)."""
    encoder = wire.Encoder(lend)
    header, buffers = through_pipe({"value": encoder.encode(value), "objects": encoder.objects}, encoder.buffers)
    decoder = wire.Decoder(header["objects"], buffers, borrow)
    return decoder.decode(header["value"]), encoder, (header, buffers, decoder)


def answer(received, value, originals):
    """The other side's answer ``value`` (after changing what it received), decoded here."""
    header, buffers, decoder = received
    encoder = wire.Encoder(lend, known=decoder.built)
    encoded = encoder.encode(value)
    encoder.updates(header["objects"], buffers)
    reply, reply_buffers = through_pipe({"value": encoded, "objects": encoder.objects}, encoder.buffers)
    return wire.Decoder(reply["objects"], reply_buffers, borrow, originals=originals.table).decode(reply["value"])


def same(a, b) -> bool:
    """Equal values of equal types (NaN equals NaN; arrays by dtype, shape and bytes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return a == b


arrays = hnp.arrays(st.sampled_from(["<f8", "<f4", "<i8", "<u1", "?", "<c16"]),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                    st.complex_numbers(allow_nan=False), st.binary(max_size=8),
                    st.floats(width=32).map(np.float32), st.integers(-2 ** 63, 2 ** 63 - 1).map(np.int64))
values = st.recursive(
    st.one_of(scalars, arrays, statements(), expressions),
    lambda children: st.one_of(st.lists(children, max_size=3), st.lists(children, max_size=3).map(tuple),
                               st.dictionaries(st.text(max_size=4), children, max_size=3),
                               st.dictionaries(st.integers(), children, max_size=2),
                               st.builds(lambda d: SimpleNamespace(**d), st.dictionaries(
                                   st.from_regex(r"[a-z]{1,4}", fullmatch=True), children, max_size=3))),
    max_leaves=10)


def plain(value):
    """SimpleNamespace has no structural equality with NaN inside: compare its dict."""
    if isinstance(value, SimpleNamespace):
        return ("namespace", {k: plain(v) for k, v in vars(value).items()})
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


@given(values)
def test_round_trip_keeps_values_and_types(value):
    copy, _, _ = send(value)
    assert same(plain(copy), plain(value))


@given(arrays, st.lists(st.integers(0, 2), min_size=3, max_size=6))
def test_sharing_survives(array, picks):
    shared = [array, [array], {"a": array}]
    outer = [shared[i] for i in picks]
    copy, _, _ = send(outer)
    for i, j in zip(picks, range(len(picks))):
        assert copy[j] is copy[picks.index(i)]  # the same object each time it was sent
    cyclic = []
    cyclic.append(cyclic)
    copy, _, _ = send(cyclic)
    assert copy[0] is copy


@given(st.lists(st.integers(), max_size=4), st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
       hnp.arrays("<f8", st.integers(1, 5)), st.integers(), st.booleans())
def test_changes_come_back_in_place(items, table, array, extra, replace):
    ranges, values = {"i": 4}, np.zeros(3)
    sent = [items, table, array, ranges, values]
    copy, encoder, received = send(sent)
    copy[0].append(extra)          # the callee changes what it was given
    copy[1]["new"] = extra
    copy[2][...] = -copy[2] - 1
    if replace:
        copy[3].clear()
    result = answer(received, [copy[3], "fresh"], encoder)
    assert items[-1] == extra and table["new"] == extra
    np.testing.assert_array_equal(array, copy[2])
    assert result[0] is ranges and ranges == ({} if replace else {"i": 4})  # the caller's own object
    assert values is sent[4] and not values.any()


def test_programs_grow_in_place_and_keep_their_parameters():
    weight = edf.Parameter(np.arange(3.0))
    prog = edf.Program()
    name = prog.bind(weight, "W")
    prog.append(f"for b, i: y[b] += x[b, i] * {name}[i]")
    package = SimpleNamespace(layers=[SimpleNamespace(W=weight)])
    (copy, copy_package), encoder, received = send((prog, package))
    assert copy.parameters[name] is copy_package.layers[0].W  # one Parameter on the other side too
    copy.append("range k = 2")
    copy.append("for b: z[b] = y[b] * 2")
    copy_package.layers[0].W.value += 1
    assert answer(received, copy, encoder) is prog
    assert prog.source() == copy.source() and weight.value.tolist() == [1.0, 2.0, 3.0]
    x = np.ones((2, 3))
    assert prog.forward(x=x)["z"].tolist() == [12.0, 12.0]


def test_a_program_given_back_changed_is_refused():
    prog = edf.Program("for i: y[i] = x[i] * 2")
    copy, encoder, (header, buffers, decoder) = send(prog)
    other = wire.Encoder(lend, known=decoder.built)
    entry = other.entry(edf.Program("for i: y[i] = x[i] * 3"))
    with pytest.raises(wire.WireError, match="a program only grows"):
        wire.Decoder([entry], [], borrow, originals=[prog])


def test_generators_continue_where_the_other_side_stopped():
    rng = np.random.default_rng(7)
    copy, encoder, received = send(rng)
    drawn = copy.random(5)
    answer(received, None, encoder)
    reference = np.random.default_rng(7)
    reference.random(5)
    assert rng.random() == reference.random() and drawn.tolist() != []


def test_what_is_not_data_is_lent():
    copy, _, _ = send([len, np.array([object()], dtype=object), np.random.RandomState(0)])
    assert [c[0] for c in copy] == ["lent"] * 3


def decode(objects, value, buffers=()):
    return wire.Decoder(objects, list(buffers), borrow).decode(value)


def ir(node_class, *fields):
    return {"ir": [node_class, list(fields)]}


affine = ir("Affine", {"tuple": [{"tuple": ["i", 1]}]}, 0)


@pytest.mark.parametrize("value, why", [
    (ir("Ref", "x; import os", {"tuple": []}), "names"),
    (ir("Ref", "x", {"tuple": [ir("Affine", {"tuple": [{"tuple": ["i) or (1", 1]}]}, 0)]}), "names"),
    (ir("Binary", "@", ir("Num", 1.0), ir("Num", 2.0)), "operators"),
    (ir("Binary", "**", ir("Num", 1.0), ir("Ref", "x", {"tuple": []})), "a constant exponent"),
    (ir("Call", "eval", {"tuple": [ir("Num", 1.0)]}), "functions"),
    (ir("Num", "1.0"), "a number"),
    (ir("Num", True), "a number, not a flag"),
    (ir("Statement", {"tuple": ["i"]}, ir("Ref", "y", {"tuple": [affine]}), "-=", ir("Num", 1.0)), "ops"),
    (ir("Statement", ["i"], ir("Ref", "y", {"tuple": [affine]}), "=", ir("Num", 1.0)), "tuples"),
    (ir("Unary", "not", ir("Num", 1.0)), "unary minus only"),
    (ir("Program", "x"), "IR classes only"),
    ({"pickle": "gASVBAAAAAAAAACMAWGULg=="}, "tags"),
    ({"scalar": ["|O", 1]}, "object scalars"),
    ({"scalar": ["<f8", "1e3"]}, "scalars from text"),
    ({"$": 3}, "references within the table"),
    ({"yours": 0}, "references lent to this side"),
    ([1, 2], "bare lists"),
])
def test_hostile_values_are_refused(value, why):
    with pytest.raises(wire.WireError):
        decode([], value)


@pytest.mark.parametrize("entry, buffers", [
    ({"array": ["|O", [1], 0]}, [bytearray(8)]),
    ({"array": ["<f8", [3], 0]}, [bytearray(8)]),           # too few bytes for the shape
    ({"array": ["<f8", [-1], 0]}, [bytearray(8)]),
    ({"array": ["V8", [1], 0]}, [bytearray(8)]),
    ({"generator": ["MT19937", {}]}, []),
    ({"parameter": [{"$": 0}, None, None, None, None]}, []),  # a Parameter whose value is itself
    ({"program": [{"tuple": ["for i: y[i] = x[i]"]}, "numpy", False, True, [], []]}, []),
    ({"namespace": [[1, 2]]}, []),
    ({"module": "os"}, []),
])
def test_hostile_objects_are_refused(entry, buffers):
    with pytest.raises(wire.WireError):
        decode([entry], {"$": 0}, buffers)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
                           lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(
                               st.sampled_from(["$", "ir", "tuple", "array", "list", "dict", "program", "parameter",
                                                "namespace", "scalar", "lent", "yours", "set", "bytes", "generator"]),
                               c, max_size=2)), max_leaves=12)


@given(st.lists(json_values, max_size=3), json_values)
def test_decoding_anything_builds_data_or_raises_wire_error(objects, value):
    try:
        decode(objects, value, [bytearray(16)])
    except wire.WireError:
        pass


def test_parsed_ir_round_trips_exactly():
    for item in parse_program("range w = 3\nshape P = L + (0, 2)\nfor b, x, dx: h[b, x] += tanh(L[b, x+dx] * 2) "
                              "** 2 / (1 + exp(-K[dx]))\nfor b: m[b] max= h[b, 0] * (h[b, 1] >= 0)"):
        copy, _, _ = send(item)
        assert copy == item and type(copy) is type(item)
    stmt = parse_statement("for i: y[i] = E[tok[i], 0]")
    assert send([stmt, Ref("x", ()), Num(2.0), Binary("*", Num(1.0), Call("sqrt", (Num(4.0),)))])[0][0] == stmt
    assert isinstance(send(stmt)[0], Statement)


def test_frames_refuse_what_is_too_large():
    header, buffers = {"value": 1, "objects": []}, [b"x" * 100]
    data = bytearray(b"".join(wire.frame(header, buffers)))
    position = 0

    def read(size):
        nonlocal position
        position += size
        return data[position - size:position]

    with pytest.raises(wire.WireError, match="more than 64 bytes"):
        wire.read_frame(read, limit=64)
