"""MNIST's IDX format on tiny files the tests write, and the synthetic sets."""
import gzip
import struct

import numpy as np
import pytest

from edf import data
from edf.errors import EdfError


def write_idx(path, array, code=0x08):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(payload)


@pytest.mark.parametrize("compressed", [False, True])
def test_mnist_from_idx_files(tmp_path, compressed):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compressed else ""
    images = {"train": rng.integers(0, 256, (5, 28, 28)).astype(np.uint8),
              "t10k": rng.integers(0, 256, (3, 28, 28)).astype(np.uint8)}
    labels = {"train": np.array([0, 1, 2, 3, 9], np.uint8), "t10k": np.array([4, 5, 6], np.uint8)}
    for prefix in images:
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images[prefix])
        write_idx(tmp_path / f"{prefix}.labels-idx1-ubyte{suffix}".replace(".labels", "-labels"),
                  labels[prefix])
    split = data.mnist(tmp_path)
    assert split.x_train.shape == (5, 784) and split.x_test.shape == (3, 784)
    np.testing.assert_allclose(split.x_train[1], images["train"][1].ravel() / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.y_test, [4, 5, 6])
    assert split.image_shape == (28, 28)


def test_idx_other_types_and_errors(tmp_path):
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "f.idx", values, code=0x0D)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.idx"), values)
    (tmp_path / "bad.idx").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(EdfError, match="is not an IDX file"):
        data.read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes((tmp_path / "f.idx").read_bytes()[:-4])
    with pytest.raises(EdfError, match="truncated or corrupt"):
        data.read_idx(tmp_path / "short.idx")
    with pytest.raises(EdfError, match="no train-images-idx3-ubyte"):
        data.mnist(tmp_path)


def write_mnist(folder, train_labels=(0, 1, 2), compressed=False):
    suffix = ".gz" if compressed else ""
    labels = {"train": np.array(train_labels, np.uint8), "t10k": np.array([4, 5], np.uint8)}
    for prefix, values in labels.items():
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", np.zeros((len(values), 2, 2), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", values)


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.write_bytes(b"not gzip at all"), r"train-labels-idx1-ubyte\.gz cannot be read as a gzip "
                                                  r"file: Not a gzipped file"),
    (lambda f: f.write_bytes(f.read_bytes()[:15]), r"train-labels-idx1-ubyte\.gz cannot be read as a gzip "
                                                   r"file: Compressed file ended"),
    (lambda f: f.write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00")),
     r"train-labels-idx1-ubyte\.gz ends after 6 bytes, inside its header \(rank 3 needs 16\)"),
    (lambda f: f.write_bytes(gzip.compress(b"\x00\x00\x08\x04" + b"\xff" * 16)),
     r"header \(\(4294967295, 4294967295, 4294967295, 4294967295\), uint8\) says "
     r"340282366604025813516997721482669850645 bytes: truncated or corrupt"),
])
def test_damaged_gzip_and_headers_name_the_file(tmp_path, damage, message):
    write_mnist(tmp_path, compressed=True)
    damage(tmp_path / "train-labels-idx1-ubyte.gz")
    with pytest.raises(EdfError, match=message):
        data.mnist(tmp_path)


def test_mnist_labels_must_be_digits(tmp_path):
    write_mnist(tmp_path, train_labels=(0, 12, 3))
    with pytest.raises(EdfError, match=r"train-labels-idx1-ubyte holds label 12 at position 1; "
                                       r"MNIST labels are 0\.\.9"):
        data.mnist(tmp_path)


def test_gaussian_ring():
    points, modes = data.gaussian_ring(4000, np.random.default_rng(0), modes=8, radius=2.0, sigma=0.02)
    angles = 2 * np.pi * modes / 8
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    assert (points - centres).std() == pytest.approx(0.02, rel=0.05)
    assert set(modes) == set(range(8))


def test_markov_sequences_follow_the_chain():
    rng = np.random.default_rng(0)
    T = data.random_transition(4, rng)
    assert (T > 0).all() and np.allclose(T.sum(1), 1)
    initial = np.full(4, 0.25)
    seqs = data.markov_sequences(20000, 5, T, initial, rng)
    pairs = np.zeros((4, 4))
    np.add.at(pairs, (seqs[:, :-1].ravel(), seqs[:, 1:].ravel()), 1)
    np.testing.assert_allclose(pairs / pairs.sum(1, keepdims=True), T, atol=0.02)
    every = np.array(np.meshgrid(*[range(4)] * 5, indexing="ij")).reshape(5, -1).T
    assert data.markov_probability(every, T, initial).sum() == pytest.approx(1.0)
    with pytest.raises(EdfError, match="transition must be a square matrix of probabilities whose rows each sum to 1"):
        data.markov_sequences(2, 3, T * 2, initial, rng)
