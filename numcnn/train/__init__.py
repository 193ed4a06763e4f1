"""The training floor: ``fit`` (one loop for classification and segmentation), ``evaluate``,
``History``, callbacks (``EarlyStopping``) and the ``TrainingDiverged`` error.

Example
-------
>>> from numcnn import nn, optim, metrics, train          # doctest: +SKIP
>>> history = train.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
...                     train_loader, val_loader, epochs=10, metrics=[metrics.Accuracy()],
...                     callbacks=[train.EarlyStopping(patience=3)],
...                     checkpoint_dir="runs/digits")      # doctest: +SKIP
>>> history["val_accuracy"][-1]                            # doctest: +SKIP
"""

from .callbacks import Callback, EarlyStopping, LambdaCallback
from .history import History
from .loop import TrainingDiverged, evaluate, fit

__all__ = ["fit", "evaluate", "History", "Callback", "EarlyStopping", "LambdaCallback",
           "TrainingDiverged"]
