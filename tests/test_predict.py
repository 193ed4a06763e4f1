"""Sliding-window inference agrees with whole-image inference where it must."""

import numpy as np
import pytest

from numcnn import nn
from numcnn.functional import softmax
from numcnn.predict import sliding_window


def test_pixelwise_model_gives_the_whole_image_answer():
    # a 1x1 conv sees no context, so blending windows must reproduce the direct answer
    model = nn.Conv2d(2, 3, 1, rng=0)
    image = np.random.default_rng(0).standard_normal((2, 50, 70)).astype(np.float32)
    labels, probs = sliding_window(model, image, tile=16, overlap=4, batch_size=5)
    direct = softmax(model(image[None]))[0]
    assert probs.shape == (3, 50, 70) and labels.shape == (50, 70)
    np.testing.assert_allclose(probs, direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, direct.argmax(0))


def test_small_image_is_padded_and_mode_restored():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0), nn.Dropout(0.5, rng=0))
    model.train()
    labels, probs = sliding_window(model, np.ones((10, 12), np.float32), tile=16)
    assert labels.shape == (10, 12) and probs.shape == (2, 10, 12)
    np.testing.assert_allclose(probs.sum(0), 1, rtol=1e-5)
    assert model.training  # eval only during prediction


def test_bad_arguments():
    model = nn.Conv2d(1, 2, 1)
    with pytest.raises(ValueError, match=r"overlap must be in \[0, tile=16\); got 16"):
        sliding_window(model, np.ones((20, 20), np.float32), tile=16, overlap=16)
    with pytest.raises(ValueError, match=r"expected an image \(C, H, W\) or \(H, W\); got "
                                         r"\(1, 1, 20, 20\)"):
        sliding_window(model, np.ones((1, 1, 20, 20), np.float32))
    with pytest.raises(TypeError, match="expected a floating-point image; got uint8"):
        sliding_window(model, np.ones((20, 20), np.uint8))
