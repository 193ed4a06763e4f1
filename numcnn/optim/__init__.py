"""Optimizers, learning-rate schedules and gradient clipping.

```python
opt = numcnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
sched = numcnn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
for epoch in range(epochs):
    for x, y in loader:
        opt.zero_grad()
        ...                       # forward, loss, backward (accumulates into p.grad)
        numcnn.optim.clip_grad_norm(model.parameters(), max_norm=5.0)
        opt.step()
    sched.step()
```

``state_dict()`` of optimizers and schedulers is a flat ``dict[str, np.ndarray]``, ready for
``np.savez`` and ``np.load(..., allow_pickle=False)``.
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearWarmupLR,
    LRScheduler,
    OneCycleLR,
    StepLR,
)
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
from .utils import clip_grad_norm

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm", "lr_scheduler",
           "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearWarmupLR", "LambdaLR",
           "OneCycleLR"]
