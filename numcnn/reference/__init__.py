"""Plain NumPy forward/backward pairs, written as the formulas of docs/: loops where loops
teach, the same signatures and return values as ``numcnn.functional``, and the same argument
checks (so the same errors).  Tests check every fast path against these; they are slower
but obviously correct, and they can stand in for the fast ones.
"""

from .conv import (
    conv2d_backward,
    conv2d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
)
from .pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    adaptive_max_pool2d_backward,
    adaptive_max_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
