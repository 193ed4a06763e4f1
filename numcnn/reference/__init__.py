"""Plain NumPy forward/backward pairs, written as the formulas of docs/: loops where loops
teach, the same signatures and return values as ``numcnn.functional``, and the same argument
checks (so the same errors).  Tests check every fast path against these; they are slower
but obviously correct, and they can stand in for the fast ones.
"""

from .activation import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from .conv import (
    conv2d_backward,
    conv2d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
)
from .dice import dice_loss_backward, dice_loss_forward
from .linear import linear_backward, linear_forward
from .loss import (
    log_softmax_backward,
    log_softmax_forward,
    softmax_backward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_forward,
)
from .normalization import (
    batch_norm_backward,
    batch_norm_forward,
    dropout_backward,
    dropout_forward,
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
from .upsample import (
    concat_backward,
    concat_forward,
    interpolate_backward,
    interpolate_forward,
    upsample_bilinear2d_backward,
    upsample_bilinear2d_forward,
    upsample_nearest2d_backward,
    upsample_nearest2d_forward,
)
