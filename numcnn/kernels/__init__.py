"""The only numba code in numcnn: the loops NumPy does badly.

activation (ReLU), conv (im2col / col2im / layout), pool (max, average), upsample (nearest,
bilinear resizing), norm (batch-norm statistics and passes).

Every kernel is ``@njit(cache=True)``; the parallel ones split work so that no two threads
ever write the same element (col2im and the pooling backwards work one (n, c) plane per
thread, because overlapping windows add into the same input pixel).  Kernels allocate
their output with the input's dtype, so float32 stays float32.

Three habits make these loops fast (each measured, see benchmarks/bench_layers.py):

* Inner loops index with values LLVM can see are never negative: ``view[k]`` with ``k``
  from ``range``, or an unsigned ``np.uint64`` flat index.  numba wraps negative indices
  (``a[-1]``), so ``a[base + k]`` with a signed ``base`` costs a sign test per element,
  which stops LLVM from vectorising; stride-1 copies then become SIMD loads and stores
  (about 2x faster im2col/col2im on 14x14 planes than with views, 3x than before).
* Big outputs are allocated by NumPy in a thin Python wrapper and filled by a
  ``_*_into`` kernel: NumPy asks Linux for huge pages on large arrays and numba's allocator
  does not, so a 38 MB im2col matrix took ~20 ms of page faults when numba allocated it.
* Per-element choices are written as selects over long loops that LLVM turns into SIMD
  blends (max pooling): a data-dependent branch per element mispredicts about half the time.

Arguments are plain ints (not tuples) so numba compiles one specialisation per dtype.
Callers (``numcnn.functional``) validate shapes and pass C-contiguous arrays.

Index convention for 2-D windows, used throughout (see docs/convolution.md):
output pixel (oh, ow) and kernel tap (i, j) read input pixel
``ih = oh*sh - ph + i*dil_h``, ``iw = ow*sw - pw + j*dil_w``; taps outside the input read 0.
"""

from .activation import relu, relu_grad
from .conv import cn_to_nchw, col2im, im2col, nchw_to_cn
from .norm import batch_norm_apply, batch_norm_grad, channel_grad_sums, channel_mean_var
from .pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from .upsample import (
    nearest2d_gather,
    nearest2d_scatter,
    upsample_bilinear2d_backward,
    upsample_bilinear2d_forward,
    upsample_nearest2d_backward,
    upsample_nearest2d_forward,
)
