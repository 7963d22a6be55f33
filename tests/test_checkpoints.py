"""Checkpoints cannot lose work: atomic saves, and loads that check everything before changing anything."""
import copy
import os
import re
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

import edf
from edf import optim
from edf.errors import EdfError
from edf.storage import read_arrays, write_arrays
from edf.train import load_checkpoint, save_checkpoint


def trained(make=optim.Adam, seed=0):
    """A package, an optimizer with non-zero state, and a generator, all seeded."""
    rng = np.random.default_rng(seed)
    params = SimpleNamespace(w=edf.Parameter(rng.normal(size=3)), c=edf.Parameter(rng.normal(size=())))
    opt = make(params, lr=0.1)
    for p in edf.parameters(params):
        p.grad = rng.normal(size=p.shape)
    opt.step()
    return params, opt, rng


def snapshot(params, opt, rng):
    return ({n: p.value.copy() for n, p in edf.named_parameters(params).items()},
            {k: np.array(v, copy=True) for k, v in opt.state().items()}, copy.deepcopy(rng.bit_generator.state))


def assert_unchanged(before, params, opt, rng):
    values, state, generator = before
    for name, p in edf.named_parameters(params).items():
        np.testing.assert_array_equal(p.value, values[name], err_msg=name)
    assert set(opt.state()) == set(state)
    for key, value in opt.state().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    assert rng.bit_generator.state == generator


def test_the_same_path_saves_and_loads(tmp_path):
    params, opt, rng = trained()
    save_checkpoint(tmp_path / "ckpt", params, opt, rng, epoch=2)
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no .npz appended, no temporary left
    saved = snapshot(params, opt, rng)
    other, other_opt, other_rng = trained(seed=5)
    assert load_checkpoint(str(tmp_path / "ckpt"), other, other_opt, other_rng) == {"epoch": 2}
    assert_unchanged(saved, other, other_opt, other_rng)
    edf.storage.save(params, tmp_path / "weights")
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "weights"]


def test_a_save_failing_part_way_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    params, opt, rng = trained()
    save_checkpoint(tmp_path / "ckpt", params, opt, rng)
    saved = snapshot(params, opt, rng)
    params.w.value += 1.0

    def disk_full(handle, **arrays):
        handle.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(EdfError, match=r"cannot write .*ckpt: \[Errno 28\] No space left.*previous file"):
        save_checkpoint(tmp_path / "ckpt", params, opt, rng)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt"]  # the temporary file is gone too
    fresh, fresh_opt, fresh_rng = trained(seed=7)
    load_checkpoint(tmp_path / "ckpt", fresh, fresh_opt, fresh_rng)
    assert_unchanged(saved, fresh, fresh_opt, fresh_rng)


def test_a_process_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    """The second save's process is killed (SIGKILL) after writing, before the rename."""
    script = textwrap.dedent(f"""
        import os, signal
        from types import SimpleNamespace
        import numpy as np
        import edf
        from edf.train import save_checkpoint
        params = SimpleNamespace(w=edf.Parameter(np.full(1000, 1.0)))
        save_checkpoint({str(tmp_path / "ckpt")!r}, params)
        params.w.value[...] = 2.0
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # dies mid-save
        save_checkpoint({str(tmp_path / "ckpt")!r}, params)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
    assert len(os.listdir(tmp_path)) == 2  # the checkpoint and the dead save's temporary file
    params = SimpleNamespace(w=edf.Parameter(np.zeros(1000)))
    load_checkpoint(tmp_path / "ckpt", params)
    np.testing.assert_array_equal(params.w.value, 1.0)
    # a later save cleans up the dead save's file once it is old (a young one may be in flight)
    (dead,) = [p for p in tmp_path.iterdir() if p.name != "ckpt"]
    save_checkpoint(tmp_path / "ckpt", params)
    assert dead.exists()
    os.utime(dead, (dead.stat().st_atime, dead.stat().st_mtime - 2 * 3600))
    save_checkpoint(tmp_path / "ckpt", params)
    assert os.listdir(tmp_path) == ["ckpt"]


def rewrite(path, change):
    """Write a modified copy of the checkpoint at ``path`` back to it."""
    arrays = read_arrays(path)
    change(arrays)
    write_arrays(path, arrays)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def damage_field(path):
    """Flip bytes inside the stored data of param/w (the archive's structure stays intact)."""
    data = bytearray(path.read_bytes())
    w = read_arrays(path)["param/w"].tobytes()  # stored uncompressed, so found verbatim
    start = data.index(w)
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def save_other(path, **kinds):
    """A checkpoint of a differently shaped package, or of another optimizer, or no rng."""
    rng = np.random.default_rng(3)
    shape = kinds.get("shape", (3,))
    params = SimpleNamespace(w=edf.Parameter(rng.normal(size=shape)), c=edf.Parameter(rng.normal(size=())))
    opt = kinds.get("optimizer", optim.Adam)(params, lr=0.1)
    save_checkpoint(path, params, opt, None if kinds.get("no_rng") else kinds.get("rng", rng))


CORRUPTIONS = {
    "missing file": (lambda p: p.unlink(), r"no file .*ckpt"),
    "truncated": (truncate, r"ckpt is not a readable \.npz file \(truncated or corrupt\?\)"),
    "not an archive": (lambda p: p.write_bytes(b"hello"), r"ckpt is not a readable \.npz file"),
    "one array, not an archive": (lambda p: np.save(open(p, "wb"), np.zeros(3)),
                                  r"ckpt holds a single array"),
    "damaged field": (damage_field, r"ckpt: field 'param/w' cannot be read"),
    "wrong shape": (lambda p: save_other(p, shape=(4,)),
                    r"ckpt: field 'param/w' has shape \(4,\), but the parameter w has shape \(3,\)"),
    "shape (1,) for (3,)": (lambda p: save_other(p, shape=(1,)),
                            r"field 'param/w' has shape \(1,\), but the parameter w has shape \(3,\)"),
    "integer parameter": (lambda p: rewrite(p, lambda a: a.update({"param/w": np.arange(3)})),
                          r"field 'param/w' holds int64, but the parameter w holds floating point"),
    "missing parameter": (lambda p: rewrite(p, lambda a: a.pop("param/c")),
                          r"ckpt does not fit this package: missing \['c'\], unexpected \[\]"),
    "extra parameter": (lambda p: rewrite(p, lambda a: a.update({"param/v": np.zeros(2)})),
                        r"missing \[\], unexpected \['v'\]"),
    "SGD into Adam": (lambda p: save_other(p, optimizer=optim.SGD),
                      r"ckpt holds SGD optimizer state, but the optimizer to restore is Adam"),
    "no optimizer state": (lambda p: save_checkpoint(p, trained()[0]), r"ckpt holds no optimizer state"),
    "missing optimizer field": (lambda p: rewrite(p, lambda a: a.pop("optim/s1")),
                                r"ckpt: optimizer state does not fit this Adam: missing \['s1'\]"),
    "wrong optimizer shape": (lambda p: rewrite(p, lambda a: a.update({"optim/m0": np.zeros(1)})),
                              r"optimizer state: 'm0' has shape \(1,\), but this Adam needs \(3,\)"),
    "negative step count": (lambda p: rewrite(p, lambda a: a.update({"optim/t": np.array(-4)})),
                            r"optimizer state: the step count 't' is -4"),
    "float step count": (lambda p: rewrite(p, lambda a: a.update({"optim/t": np.array(1.5)})),
                         r"'t' holds float64, but this Adam needs integer"),
    "missing meta": (lambda p: rewrite(p, lambda a: a.pop("meta")), r"ckpt: field 'meta' is missing or damaged"),
    "damaged meta": (lambda p: rewrite(p, lambda a: a.update(meta=np.array("{not json"))),
                     r"ckpt: field 'meta' is missing or damaged"),
    "no generator state": (lambda p: save_other(p, no_rng=True), r"ckpt holds no random generator state"),
    "another generator": (lambda p: save_other(p, rng=np.random.Generator(np.random.Philox(1))),
                          r"field 'meta' holds a random generator state that does not fit PCG64"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_bad_checkpoint_changes_nothing(tmp_path, corruption):
    change, message = CORRUPTIONS[corruption]
    path = tmp_path / "ckpt"
    save_checkpoint(path, *trained(seed=1))
    change(path)
    params, opt, rng = trained(seed=2)
    before = snapshot(params, opt, rng)
    with pytest.raises(EdfError, match=message):
        load_checkpoint(path, params, opt, rng)
    assert_unchanged(before, params, opt, rng)


def test_params_load_checks_everything_first(tmp_path):
    params, _, _ = trained()
    edf.storage.save(params, tmp_path / "weights")
    ragged = SimpleNamespace(c=edf.Parameter(np.ones(())), w=edf.Parameter(np.ones(1)))
    with pytest.raises(EdfError, match=r"weights: field 'w' has shape \(3,\), but the parameter w has shape \(1,\)"):
        edf.storage.load(ragged, tmp_path / "weights")
    np.testing.assert_array_equal(ragged.c.value, 1.0)  # c, checked first, was not assigned
    truncate(tmp_path / "weights")
    with pytest.raises(EdfError, match="weights is not a readable .npz file"):
        edf.storage.load(params, tmp_path / "weights")


def test_any_generator_round_trips(tmp_path):
    params, _, _ = trained()
    rng = np.random.Generator(np.random.Philox(4))
    save_checkpoint(tmp_path / "ckpt", params, rng=rng)
    expected = rng.normal(size=3)
    other = np.random.Generator(np.random.Philox(9))
    load_checkpoint(tmp_path / "ckpt", params, rng=other)
    np.testing.assert_array_equal(other.normal(size=3), expected)


def test_extra_values_must_be_storable(tmp_path):
    params, _, _ = trained()
    save_checkpoint(tmp_path / "ckpt", params, step=np.int64(3), loss=np.float32(0.5))
    assert load_checkpoint(tmp_path / "ckpt", params) == {"step": 3, "loss": 0.5}
    with pytest.raises(EdfError, match=re.escape("edf.train.save_checkpoint: extra must be numbers, text, lists and dicts (what JSON holds), got seen={1, 2} (a set)")):
        save_checkpoint(tmp_path / "ckpt", params, seen={1, 2})


def test_optimizer_load_state_checks_before_assigning():
    params, opt, _ = trained(optim.SGD)
    before = opt.state()["mu0"].copy()
    with pytest.raises(EdfError, match=r"the optimizer state: 'mu1' has shape \(2,\), but this SGD needs \(\)"):
        opt.load_state({"mu0": np.zeros(3), "mu1": np.zeros(2)})
    np.testing.assert_array_equal(opt.state()["mu0"], before)
