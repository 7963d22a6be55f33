"""The threading contract: a Program is used by one thread at a time, and says so when it is not.

Every call either gives the right answer or raises ``ProgramError``; two threads sharing one
Program never get a silently wrong gradient.
"""
import sys
import threading
import time

import numpy as np
import pytest

import edf
from edf.errors import ProgramError

SOURCE = "for b, i, j: h[b, j] += x[b, i] * W[i, j]\nfor b, j: loss += tanh(h[b, j])"


def expected_gradient(x, W):
    return x.T @ (1 - np.tanh(x @ W) ** 2)


def test_backward_in_a_thread_whose_forward_was_replaced_raises():
    prog, W = edf.Program(SOURCE), np.ones((3, 2))
    run = lambda x: threading.Thread(target=prog.forward, kwargs=dict(x=x, W=W))  # noqa: E731
    prog.forward(x=np.ones((2, 3)), W=W)
    other = run(np.zeros((2, 3)))
    other.start()
    other.join()
    with pytest.raises(ProgramError, match=r"backward\(\) needs this thread's forward\(\) values, but "
                                           r"another thread ran forward\(\) on this Program since"):
        prog.backward("loss")
    prog.forward(x=np.ones((2, 3)), W=W)  # this thread's own forward again: backward works
    np.testing.assert_allclose(prog.backward("loss")["W"], expected_gradient(np.ones((2, 3)), W))


def test_a_call_overlapping_another_threads_call_raises():
    entered, release = threading.Event(), threading.Event()

    def slow_mask(shape, training):  # holds the first forward inside the Program
        entered.set()
        release.wait(10)
        return np.ones(shape)

    prog = edf.Program("for i: y[i] = x[i] * m[i]")
    prog.feed("m", "x", slow_mask)
    worker = threading.Thread(target=prog.forward, kwargs=dict(x=np.ones(3)))
    worker.start()
    assert entered.wait(10)
    try:
        with pytest.raises(ProgramError, match=r"forward\(\) was called while another thread was "
                                               r"running this Program; a Program is used by one "
                                               r"thread at a time"):
            prog.forward(x=np.ones(3), m=np.ones(3))
        with pytest.raises(ProgramError, match=r"backward\(\) was called while another thread"):
            prog.backward("y")
    finally:
        release.set()
        worker.join()
    prog.forward(x=np.ones(3), m=np.ones(3))  # free again


def test_two_threads_hammering_one_program_never_get_a_wrong_gradient():
    prog, W = edf.Program(SOURCE), np.random.default_rng(0).normal(size=(3, 2))
    counts = {"right": 0, "refused": 0}
    wrong, lock = [], threading.Lock()

    def hammer(seed):
        x = np.random.default_rng(seed).normal(size=(4, 3))
        want = expected_gradient(x, W)
        for _ in range(150):
            try:
                prog.forward(x=x, W=W)
                time.sleep(0)  # the caller's own work between the calls lets the other thread in
                got = prog.backward("loss")["W"]
            except ProgramError:
                outcome = "refused"
            else:
                outcome = "right" if np.allclose(got, want) else "wrong"
            with lock:
                if outcome == "wrong":
                    wrong.append(seed)
                else:
                    counts[outcome] += 1

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in (1, 2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so that their calls interleave
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong
    assert counts["right"] + counts["refused"] == 300 and counts["right"] > 0
