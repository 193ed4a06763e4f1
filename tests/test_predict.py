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


# ------------------------------------------------------------------- instances from probabilities
def two_touching_nuclei():
    """Two 6x6 nuclei side by side (ids 1, 2) in a 10x16 image, and the 3-class
    probabilities of a confident network that is right everywhere (0.9 on the true class of
    ``instances_to_target``: the pixels where they touch and their outer rims are boundary)."""
    from numcnn.datasets import instances_to_target

    truth = np.zeros((10, 16), np.int64)
    truth[2:8, 2:8], truth[2:8, 8:14] = 1, 2
    cls = instances_to_target(truth, "3class")
    probs = np.eye(3, dtype=np.float32)[cls].transpose(2, 0, 1) * 0.9 + 0.1 / 3
    return truth, probs


def test_three_classes_keep_touching_nuclei_apart_two_classes_merge_them():
    from numcnn.predict import probs_to_instances

    truth, probs = two_touching_nuclei()
    assert (probs.argmax(0)[2:8, 7:9] == 2).all()  # the shared border is boundary
    labels = probs_to_instances(probs, min_size=0)
    assert labels.dtype == np.int32 and labels.max() == 2
    # every nucleus pixel is given back to one of the two objects, which match the truth
    np.testing.assert_array_equal(labels > 0, truth > 0)
    assert len(np.unique(labels[truth == 1])) == len(np.unique(labels[truth == 2])) == 1
    fg = np.stack([probs[0], probs[1] + probs[2]])  # the same image, foreground only
    merged = probs_to_instances(fg, min_size=0)
    assert merged.max() == 1 and ((merged == 1) == (truth > 0)).all()


def test_small_objects_and_seeds_are_dropped():
    from numcnn.predict import probs_to_instances

    fg = np.zeros((2, 12, 12), np.float32)
    fg[1, 1:3, 1:3] = 1.0           # 4 pixels
    fg[1, 5:10, 5:10] = 1.0         # 25 pixels
    fg[0] = 1.0 - fg[1]
    labels = probs_to_instances(fg, min_size=5)
    assert labels.max() == 1 and np.count_nonzero(labels) == 25
    assert probs_to_instances(fg, min_size=0).max() == 2


@pytest.mark.parametrize("probs, kwargs, error, match", [
    (np.ones((4, 5, 5), np.float32) / 4, {}, ValueError, r"K = 2.*or 3.*got \(4, 5, 5\)"),
    (np.ones((3, 5, 5), np.int64), {}, ValueError, "int64"),
    (np.full((3, 5, 5), np.nan, np.float32), {}, ValueError, "NaN or infinite"),
    (np.ones((3, 5, 5), np.float32) / 3, {"interior_threshold": 1.0}, ValueError,
     r"interior_threshold must be a finite number in \(0, 1\); got 1.0"),
    (np.ones((3, 5, 5), np.float32) / 3, {"min_size": -1}, ValueError, "min_size"),
])
def test_probs_to_instances_bad_input(probs, kwargs, error, match):
    from numcnn.predict import probs_to_instances

    with pytest.raises(error, match=match):
        probs_to_instances(probs, **kwargs)


def test_otsu_watershed_splits_two_touching_discs():
    from numcnn.predict import otsu_watershed

    yy, xx = np.mgrid[:40, :60]
    discs = ((yy - 20) ** 2 + (xx - 20) ** 2 < 100) | ((yy - 20) ** 2 + (xx - 37) ** 2 < 100)
    image = (0.2 + 0.6 * discs).astype(np.float32)
    labels = otsu_watershed(image, sigma=0.0)
    assert labels.dtype == np.int32 and labels.max() == 2  # one neck, two nuclei
    assert labels[20, 20] != labels[20, 37] and labels[0, 0] == 0
    assert np.count_nonzero(labels) == np.count_nonzero(discs)
    # a threshold above every pixel finds nothing; the (1, H, W) form is the same image
    assert otsu_watershed(image, threshold=0.9).max() == 0
    np.testing.assert_array_equal(otsu_watershed(image[None], sigma=0.0), labels)
    with pytest.raises(ValueError, match=r"one channel; got an image of shape \(2, 40, 60\)"):
        otsu_watershed(np.stack([image, image]))
    with pytest.raises(ValueError, match="min_distance must be"):
        otsu_watershed(image, min_distance=0)
    with pytest.raises(TypeError, match="floating-point image; got int64"):
        otsu_watershed(discs.astype(np.int64))


def test_min_distance_cuts_interiors_that_still_touch():
    from numcnn.predict import probs_to_instances, split_touching

    yy, xx = np.mgrid[:40, :60]
    a, b = (yy - 20) ** 2 + (xx - 20) ** 2 < 100, (yy - 20) ** 2 + (xx - 37) ** 2 < 100
    probs = np.zeros((3, 40, 60), np.float32)
    probs[1] = a | b                    # one interior: the boundary class missed the neck
    probs[0] = 1 - probs[1]
    assert probs_to_instances(probs, min_size=0).max() == 1
    labels = probs_to_instances(probs, min_size=0, min_distance=5)
    assert labels.max() == 2 and labels[20, 20] != labels[20, 37]
    np.testing.assert_array_equal(labels > 0, a | b)
    np.testing.assert_array_equal(split_touching(a | b, 5) > 0, a | b)
    with pytest.raises(ValueError, match="min_distance must be"):
        probs_to_instances(probs, min_distance=0)
