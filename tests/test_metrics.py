"""Metrics against small examples worked out by hand, streaming against all-at-once."""

import numpy as np
import pytest

from numcnn.metrics import (
    Accuracy,
    ConfusionMatrix,
    SegmentationMetrics,
    TopKAccuracy,
    accuracy,
    confusion_matrix,
    top_k_accuracy,
)

# Four samples, three classes.  Row by row:
#   target 1, scores (.1 .7 .2): argmax 1 -> right; rank of class 1 is 0
#   target 2, scores (.5 .3 .2): argmax 0 -> wrong; two scores beat .2 -> rank 2
#   target 1, scores (.2 .3 .5): argmax 2 -> wrong; one score beats .3 -> rank 1
#   target 0, scores (.9 .05 .05): right, rank 0
# accuracy 2/4, top-2 3/4 (ranks < 2), top-3 4/4.
LOGITS = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
TARGETS = np.array([1, 2, 1, 0])


def test_accuracy_and_top_k_by_hand():
    assert accuracy(LOGITS, TARGETS) == 0.5
    assert accuracy(np.array([1, 0, 2, 0]), TARGETS) == 0.5  # class map in, same answer
    assert top_k_accuracy(LOGITS, TARGETS, k=1) == 0.5
    assert top_k_accuracy(LOGITS, TARGETS, k=2) == 0.75
    assert top_k_accuracy(LOGITS, TARGETS, k=3) == 1.0


def test_top_k_ties_follow_argmax():
    # scores tie between class 0 and class 1: argmax says 0, so target 1 ranks second
    logits, target = np.array([[0.5, 0.5, 0.0]]), np.array([1])
    assert accuracy(logits, target) == 0.0
    assert top_k_accuracy(logits, target, k=1) == 0.0
    assert top_k_accuracy(logits, target, k=2) == 1.0


def test_accuracy_ignore_index_and_per_pixel_logits():
    # (1, 2, 1, 2) logits: pixel 0 predicts class 1, pixel 1 class 0
    logits = np.array([[[[0.0, 3.0]], [[1.0, 2.0]]]])
    target = np.array([[[1, -100]]])
    assert accuracy(logits, target, ignore_index=-100) == 1.0


def test_confusion_matrix_by_hand():
    # (t, p) pairs: (0,0) (1,2) (1,1) (2,1)
    cm = confusion_matrix(np.array([0, 2, 1, 1]), np.array([0, 1, 1, 2]), 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 1, 0]])
    assert cm.dtype == np.int64


def test_streaming_classification_equals_all_at_once():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((50, 5)), rng.integers(0, 5, 50)
    acc, top, cm = Accuracy(), TopKAccuracy(2), ConfusionMatrix(5)
    for s in (slice(0, 7), slice(7, 30), slice(30, 50)):
        for m in (acc, top, cm):
            m.update(logits[s], targets[s])
    assert acc.compute() == {"accuracy": accuracy(logits, targets)}
    assert top.compute() == {"top2_accuracy": top_k_accuracy(logits, targets, 2)}
    np.testing.assert_array_equal(cm.compute()["confusion_matrix"],
                                  confusion_matrix(logits, targets, 5))
    acc.reset()
    with pytest.raises(ValueError, match="nothing counted yet"):
        acc.compute()


# Segmentation, 3 classes, one 2x4 image; the pixel at (1, 2) is unlabelled (-100).
SEG_T = np.array([[[0, 0, 1, 1], [2, 2, -100, 1]]])
SEG_P = np.array([[[0, 1, 1, 1], [2, 0, 2, 0]]])
# Counted (t, p) pairs: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (1,0)  -> 7 pixels, 4 right.
#   cm = [[1, 1, 0],     TP = (1, 2, 1); column sums (3, 3, 1) -> FP = (2, 1, 0)
#         [1, 2, 0],     row sums (2, 3, 2) -> FN = (1, 1, 1)
#         [1, 0, 1]]
#   IoU  = TP / (TP+FP+FN)     = 1/4, 2/4, 1/2      -> mIoU (1/4 + 1/2 + 1/2) / 3 = 5/12
#   Dice = 2TP / (2TP+FP+FN)   = 2/5, 4/6, 2/3      -> mean (2/5 + 2/3 + 2/3) / 3 = 26/45
SEG_CM = [[1, 1, 0], [1, 2, 0], [1, 0, 1]]


def test_segmentation_metrics_by_hand():
    m = SegmentationMetrics(3)
    m.update(SEG_P, SEG_T)
    r = m.compute()
    np.testing.assert_array_equal(r["confusion_matrix"], SEG_CM)
    assert r["pixel_accuracy"] == pytest.approx(4 / 7)
    np.testing.assert_allclose(r["iou"], [1 / 4, 1 / 2, 1 / 2])
    assert r["miou"] == pytest.approx(5 / 12)
    np.testing.assert_allclose(r["dice"], [2 / 5, 2 / 3, 2 / 3])
    assert r["mean_dice"] == pytest.approx(26 / 45)
    assert "fg_iou" not in r  # only for two classes


def test_segmentation_logits_give_the_same_numbers():
    logits = np.moveaxis(np.eye(3)[SEG_P], -1, 1)  # one-hot (1, 3, 2, 4): argmax is SEG_P
    m = SegmentationMetrics(3)
    m.update(logits, SEG_T)
    np.testing.assert_array_equal(m.compute()["confusion_matrix"], SEG_CM)


def test_absent_class_is_nan_and_left_out_of_the_mean():
    m = SegmentationMetrics(4)  # class 3 in neither target nor prediction
    m.update(SEG_P, SEG_T)
    r = m.compute()
    assert np.isnan(r["iou"][3]) and np.isnan(r["dice"][3])
    assert r["miou"] == pytest.approx(5 / 12)
    assert r["mean_dice"] == pytest.approx(26 / 45)


def test_binary_foreground_scores():
    # (t, p): (0,1) (1,1) (1,0) (0,0): class 1 TP 1, FP 1, FN 1
    m = SegmentationMetrics(2)
    m.update(np.array([[[1, 1, 0, 0]]]), np.array([[[0, 1, 1, 0]]]))
    r = m.compute()
    assert r["fg_iou"] == pytest.approx(1 / 3)
    assert r["fg_dice"] == pytest.approx(1 / 2)
    assert r["pixel_accuracy"] == 0.5


def test_ignored_pixels_are_left_out_whatever_they_predict():
    a, b = SegmentationMetrics(3), SegmentationMetrics(3)
    other = SEG_P.copy()
    other[0, 1, 2] = 1  # change only the prediction of the ignored pixel
    a.update(SEG_P, SEG_T)
    b.update(other, SEG_T)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    assert a.matrix.sum() == 7


def test_segmentation_streaming_equals_all_at_once():
    rng = np.random.default_rng(1)
    target = rng.integers(0, 4, (6, 5, 7))
    target[rng.random(target.shape) < 0.2] = -100
    logits = rng.standard_normal((6, 4, 5, 7))
    whole, parts = SegmentationMetrics(4), SegmentationMetrics(4)
    whole.update(logits, target)
    for s in (slice(0, 1), slice(1, 4), slice(4, 6)):
        parts.update(logits[s], target[s])
    np.testing.assert_array_equal(whole.matrix, parts.matrix)
    rw, rp = whole.compute(), parts.compute()
    assert rw["miou"] == rp["miou"] and rw["pixel_accuracy"] == rp["pixel_accuracy"]


@pytest.mark.parametrize("pred, target, match", [
    (np.zeros((1, 2, 3), int), np.zeros((1, 2, 4), int), r"targets' shape \(1, 2, 4\).*got"),
    (np.zeros((1, 5, 2, 2)), np.zeros((1, 2, 2), int), r"shape \(N, C, \.\.\.\) = \(1, 3, 2, 2\)"),
    (np.zeros((1, 2, 2), int), np.full((1, 2, 2), 3), r"targets must be classes in \[0, 3\)"),
    (np.full((1, 2, 2), 7), np.zeros((1, 2, 2), int), r"predictions.*\[0, 3\); got values \[7\]"),
    (np.zeros((1, 2, 2)), np.zeros((1, 2, 2), int), "must be an integer class map"),
    (np.zeros((1, 2, 2), int), np.zeros((1, 2, 2)), "integer class labels; got dtype float64"),
])
def test_segmentation_bad_input(pred, target, match):
    with pytest.raises(ValueError, match=match):
        SegmentationMetrics(3).update(pred, target)


def test_bad_k_and_num_classes():
    with pytest.raises(ValueError, match=r"k must be an int in \[1, C=3\]; got 4"):
        top_k_accuracy(LOGITS, TARGETS, k=4)
    with pytest.raises(ValueError, match="num_classes must be a positive int; got 0"):
        confusion_matrix(TARGETS, TARGETS, 0)
    with pytest.raises(ValueError, match="no samples"):
        accuracy(np.zeros((0, 3)), np.zeros(0, int))
