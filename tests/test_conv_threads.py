"""numcnn's own threads (numcnn._threads.map_chunks) and the convolutions that run on them.

With forced small chunks every convolution below runs as several chunks, and with two
threads those chunks run on two threads at once, each with single-threaded GEMMs: forward
and backward must still match numcnn.reference (the loops), in float32 and float64.
"""

import contextlib
import threading
from unittest import mock

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import (
    check_against_reference,
    conv2d_terms,
    conv_case,
    conv_t_case,
)

import numcnn.functional.conv as conv
from numcnn import _threads
from numcnn import reference as R

two_threads = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2 or not _threads._openblas(),
    reason="needs 2 numba threads and NumPy's OpenBLAS")

SMALL_CHUNKS = dict(_CHUNK_ABOVE=0, _CHUNK_BYTES=1, _MIN_CHUNK_COLS=2, _MIN_THREAD_COLS=1)


def threaded_calls(check):
    """Run check(); return the thread counts map_chunks was called with meanwhile."""
    counts = []
    real = _threads.map_chunks

    def spy(fn, items, threads):
        counts.append(threads)
        return real(fn, items, threads)

    with mock.patch.object(_threads, "map_chunks", spy):
        check()
    return counts


@contextlib.contextmanager
def at_two_threads():
    """numba at 2 threads, OpenBLAS at 2; both put back afterwards."""
    blas = _threads._openblas()
    old_numba, old_blas = numba.get_num_threads(), blas["get"]()
    numba.set_num_threads(2)
    blas["set"](2)
    try:
        yield
    finally:
        numba.set_num_threads(old_numba)
        blas["set"](old_blas)


@pytest.fixture
def threads2():
    with at_two_threads():
        yield


@two_threads
def test_map_chunks_keeps_the_order_and_uses_both_threads(threads2):
    seen = set()
    barrier = threading.Barrier(2, timeout=10)  # passes only if two threads run at once

    def work(k):
        if k < 2:
            barrier.wait()
        seen.add(threading.get_ident())
        return k * k

    assert _threads.threads_for(10) == 2
    assert _threads.map_chunks(work, list(range(10)), 2) == [k * k for k in range(10)]
    assert len(seen) == 2


@two_threads
def test_map_chunks_sets_blas_to_one_thread_meanwhile_and_back_after_an_error(threads2):
    blas = _threads._openblas()
    during = []

    def work(k):
        during.append(blas["get"]())
        if k == 3:
            raise ValueError("chunk 3 failed")
        return k

    with pytest.raises(ValueError, match="chunk 3 failed"):
        _threads.map_chunks(work, list(range(8)), 2)
    assert set(during) == {1}
    assert blas["get"]() == 2
    assert _threads.threads_for(5) == 2  # and the next call may thread again


def test_threads_for_one_item_or_one_numba_thread_is_one():
    assert _threads.threads_for(1) == 1
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _threads.threads_for(100) == 1
    finally:
        numba.set_num_threads(old)


@two_threads
@settings(max_examples=30, deadline=None)
@given(conv_case())
def test_conv2d_on_two_threads_matches_loops(case):
    """Small chunks (samples or bands of rows) on two threads, against the loop reference."""
    x, w, b, kw = case
    out, _ = R.conv2d_forward(x, w, b, **kw)
    with at_two_threads(), mock.patch.multiple(conv, **SMALL_CHUNKS):
        counts = threaded_calls(lambda: check_against_reference(
            "conv2d", x, w, b, kw, conv2d_terms(x, w, out.shape, kw["groups"])))
    if out.shape[0] * out.shape[2] > 1:  # more than one sample or output row
        assert 2 in counts, counts  # the forward at least ran on two threads


@two_threads
@settings(max_examples=30, deadline=None)
@given(conv_t_case())
def test_conv_transpose2d_on_two_threads_matches_loops(case):
    x, w, b, kw = case
    out, _ = R.conv_transpose2d_forward(x, w, b, **kw)
    (N, C, H, W), (_, Fg, kh, kwid) = x.shape, w.shape
    terms = (C // kw["groups"] * kh * kwid + 1, Fg * kh * kwid, N * H * W,
             N * out.shape[2] * out.shape[3])
    with at_two_threads(), mock.patch.multiple(conv, **SMALL_CHUNKS):
        counts = threaded_calls(lambda: check_against_reference(
            "conv_transpose2d", x, w, b, kw, terms, seed=2))
    if N > 1:
        assert counts and set(counts) == {2}, counts  # groups of samples, both passes


@two_threads
@pytest.mark.parametrize("C, F_out, N, H", [(8, 6, 4, 64), (6, 8, 4, 64), (4, 4, 1, 200)])
def test_real_chunks_on_two_threads_match_one_thread(threads2, C, F_out, N, H):
    """The chunks a real layer gets (no forced limits; the last case is one image in bands):
    two threads give one thread's results up to float32 rounding."""
    rng = np.random.default_rng(C + F_out)
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    w = rng.standard_normal((F_out, C, 3, 3), dtype=np.float32)
    b = rng.standard_normal(F_out, dtype=np.float32)
    chunks = conv._chunks(N, H, H, C * 9, 4, 2)
    assert len(chunks) >= 2 and len(chunks) % 2 == 0
    results = []
    for threads in (2, 1):
        numba.set_num_threads(threads)
        counts = threaded_calls(lambda: results.append(
            (out := conv.conv2d_forward(x, w, b, padding=1))[:1]
            + conv.conv2d_backward(np.cos(out[0]), out[1])))
        assert counts[0] == threads
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


@given(st.integers(1, 9), st.integers(1, 40), st.integers(1, 40), st.integers(1, 600),
       st.integers(1, 4))
def test_chunks_cover_the_output_once(N, Ho, Wo, rows, threads):
    with mock.patch.multiple(conv, _CHUNK_ABOVE=0, _CHUNK_BYTES=64, _MIN_CHUNK_COLS=4,
                             _MIN_THREAD_COLS=4):
        chunks = conv._chunks(N, Ho, Wo, rows, 4, threads)
    covered = np.zeros((N, Ho), int)
    for c in chunks:
        assert c.n.stop - c.n.start >= 1 and c.row1 > c.row0
        covered[c.n, c.row0:c.row1] += 1
    assert (covered == 1).all()
