"""Metrics against small examples worked out by hand, streaming against all-at-once, and
instance matching against a brute-force matcher (and stardist's, where installed)."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numcnn.metrics import (
    DSB_THRESHOLDS,
    Accuracy,
    ConfusionMatrix,
    InstanceMetrics,
    SegmentationMetrics,
    TopKAccuracy,
    accuracy,
    aji,
    confusion_matrix,
    dsb_score,
    instance_iou,
    match_instances,
    segmentation_scores,
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
    with pytest.raises(ValueError, match=r"top_k_accuracy: k must be an int in \[1, 3\]; got 4"):
        top_k_accuracy(LOGITS, TARGETS, k=4)
    with pytest.raises(TypeError, match=r"k must be an int in \[1, 3\]; got 2.0"):
        top_k_accuracy(LOGITS, TARGETS, k=2.0)
    with pytest.raises(ValueError, match="num_classes must be a positive int; got 0"):
        confusion_matrix(TARGETS, TARGETS, 0)
    with pytest.raises(TypeError, match="num_classes must be a positive int; got '3'"):
        SegmentationMetrics("3")
    with pytest.raises(TypeError, match="TopKAccuracy: k must be a positive int; got None"):
        TopKAccuracy(None)
    with pytest.raises(TypeError, match="ignore_index must be an int; got 0.5"):
        accuracy(LOGITS, TARGETS, ignore_index=0.5)
    with pytest.raises(ValueError, match="no samples"):
        accuracy(np.zeros((0, 3)), np.zeros(0, int))


def test_nan_logits_are_refused_alike_by_accuracy_and_top_k():
    # argmax calls NaN the largest score, a comparison the smallest: k=1 and accuracy would
    # disagree (1.0 against 0.25 here); both refuse instead.
    logits = np.array([[np.nan, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    targets = np.array([1, 0, 1, 0])
    for score in (lambda: accuracy(logits, targets), lambda: top_k_accuracy(logits, targets, 1),
                  lambda: confusion_matrix(logits, targets, 2)):
        with pytest.raises(ValueError, match=r"logits contain 1 NaN value\(s\)"):
            score()
    with pytest.raises(TypeError, match="logits must be real scores.*got dtype complex128"):
        accuracy(logits.astype(complex), targets)
    inf = np.array([[np.inf, 0.0], [0.0, -np.inf]])  # infinities rank fine
    assert accuracy(inf, np.array([0, 0])) == top_k_accuracy(inf, np.array([0, 0]), 1) == 1.0


@pytest.mark.parametrize("cm, error, match", [
    ([[3, -1], [0, 2]], ValueError, r"non-negative whole counts; got \[-1\]"),
    ([[3.5, 1], [0, 2]], ValueError, r"non-negative whole counts; got \[3.5\]"),
    ([[np.nan, 1], [0, 2]], ValueError, "non-negative whole counts; got \\[nan\\]"),
    ([1, 2, 3], ValueError, r"must be square, shape \(C, C\) .*got shape \(3,\)"),
    ([[1, 2, 3], [4, 5, 6]], ValueError, r"got shape \(2, 3\)"),
    (np.zeros((0, 0)), ValueError, r"got shape \(0, 0\)"),
    ([["a", "b"], ["c", "d"]], TypeError, "must hold counts .*got dtype <U1"),
])
def test_segmentation_scores_refuses_what_is_no_confusion_matrix(cm, error, match):
    with pytest.raises(error, match=match):
        segmentation_scores(cm)


def test_segmentation_scores_accepts_whole_float_counts():
    r = segmentation_scores(np.array(SEG_CM, dtype=np.float64))
    assert r["miou"] == pytest.approx(5 / 12) and r["confusion_matrix"].dtype == np.int64


# ------------------------------------------------------------------------------ instances
# Hand-worked cases.  Each object is a block; sizes and overlaps are counted in the comments.

def blocks(shape, *boxes):
    """A label image with object ``i`` filling ``box`` (rows, cols slices) for (i, box)."""
    lab = np.zeros(shape, np.int64)
    for i, box in boxes:
        lab[box] = i
    return lab


# a 4x4 nucleus (16 px, id 7); predicted as a 4x3 piece (id 1, 12 px) and a 4x1 piece (id 2)
SPLIT_T = blocks((4, 6), (7, np.s_[:, 0:4]))
SPLIT_P = blocks((4, 6), (1, np.s_[:, 0:3]), (2, np.s_[:, 3:4]))


def test_split_nucleus_by_hand():
    # IoU(7, 1) = 12/16 = 0.75, IoU(7, 2) = 4/16 = 0.25: one match, one spurious piece
    r = match_instances(SPLIT_P, SPLIT_T)
    assert (r["tp"], r["fp"], r["fn"], r["n_true"], r["n_pred"]) == (1, 1, 0, 1, 2)
    assert r["precision"] == 0.5 and r["recall"] == 1.0 and r["ap"] == 0.5
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["mean_matched_iou"] == 0.75 and r["mean_true_iou"] == 0.75
    assert r["pq"] == pytest.approx(0.75 / (1 + 1 / 2))  # sum IoU / (TP + FP/2 + FN/2)
    np.testing.assert_array_equal(r["matches"], [[7, 1]])
    np.testing.assert_allclose(r["matched_iou"], [0.75])
    # ap is 1/2 at the six thresholds 0.5 ... 0.75, 0 at 0.8 ... 0.95
    assert dsb_score(SPLIT_P, SPLIT_T) == pytest.approx(6 * 0.5 / 10)
    # AJI: 7 takes piece 1 (C 12, U 16); piece 2 is taken by no one (U + 4): 12 / 20
    assert aji(SPLIT_P, SPLIT_T) == pytest.approx(12 / 20)


# two touching nuclei, 4x4 (id 1, 16 px) and 4x2 (id 2, 8 px), predicted as one (id 5, 24 px)
MERGE_T = blocks((4, 6), (1, np.s_[:, 0:4]), (2, np.s_[:, 4:6]))
MERGE_P = blocks((4, 6), (5, np.s_[:, 0:6]))


def test_merged_pair_by_hand():
    # IoU(1, 5) = 16/24 = 2/3 matches; IoU(2, 5) = 8/24 = 1/3 does not: nucleus 2 is missed
    r = match_instances(MERGE_P, MERGE_T)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 1)
    assert r["precision"] == 1.0 and r["recall"] == 0.5 and r["ap"] == 0.5
    assert r["pq"] == pytest.approx((2 / 3) / (1 + 1 / 2))
    assert r["mean_true_iou"] == pytest.approx((2 / 3) / 2)
    assert dsb_score(MERGE_P, MERGE_T) == pytest.approx(4 * 0.5 / 10)  # 0.5 ... 0.65
    # AJI: both true nuclei take object 5: C = 16 + 8, U = 24 + 24
    assert aji(MERGE_P, MERGE_T) == pytest.approx(24 / 48)
    iou, true_ids, pred_ids = instance_iou(MERGE_P, MERGE_T)
    np.testing.assert_allclose(iou, [[2 / 3], [1 / 3]])
    assert true_ids.tolist() == [1, 2] and pred_ids.tolist() == [5]


def test_halves_with_iou_exactly_one_half_give_one_match():
    # each 4x2 half of a 4x4 nucleus has IoU 8/16 = 0.5 >= 0.5; only one may be matched
    halves = blocks((4, 4), (1, np.s_[:, 0:2]), (2, np.s_[:, 2:4]))
    whole = blocks((4, 4), (1, np.s_[:, :]))
    r = match_instances(halves, whole)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 0) and r["mean_matched_iou"] == 0.5


def test_empty_prediction_and_empty_truth():
    empty = np.zeros_like(MERGE_T)
    r = match_instances(empty, MERGE_T)
    assert (r["tp"], r["fp"], r["fn"], r["n_pred"]) == (0, 0, 2, 0)
    assert r["ap"] == r["precision"] == r["recall"] == r["f1"] == r["pq"] == 0.0
    assert r["matches"].shape == (0, 2) and aji(empty, MERGE_T) == 0.0  # C 0, U 24
    r = match_instances(MERGE_T, empty)
    assert (r["tp"], r["fp"], r["fn"], r["n_true"]) == (0, 2, 0, 0) and r["ap"] == 0.0
    assert dsb_score(MERGE_T, empty) == 0.0 and aji(MERGE_T, empty) == 0.0
    # nothing in either: 0 by stardist's convention (0/0 scores 0); pooled counts unaffected
    r = match_instances(empty, empty)
    assert (r["tp"], r["fp"], r["fn"], r["ap"], r["pq"]) == (0, 0, 0, 0.0, 0.0)
    assert aji(empty, empty) == 0.0


def test_ids_need_not_be_consecutive_nor_int64():
    t = np.where(MERGE_T == 1, 1000, np.where(MERGE_T == 2, 3, 0)).astype(np.uint16)
    p = (MERGE_P * 9).astype(np.int32)
    r, ref = match_instances(p, t), match_instances(MERGE_P, MERGE_T)
    for key in ("tp", "fp", "fn", "ap", "pq", "f1"):
        assert r[key] == ref[key], key
    np.testing.assert_array_equal(r["matches"], [[1000, 45]])  # the ids as given
    assert aji(p, t) == aji(MERGE_P, MERGE_T)


def test_every_object_of_a_full_image_is_matched():
    lab = np.arange(12).reshape(3, 4) + 1  # 12 one-pixel objects, no background at all
    r = match_instances(lab, lab, list(DSB_THRESHOLDS))
    assert all(x["tp"] == 12 and x["ap"] == 1.0 and x["pq"] == 1.0 for x in r)
    assert dsb_score(lab, lab) == 1.0 and aji(lab, lab) == 1.0


# --- property tests: a brute-force matcher and relabelling
small_labels = hnp.arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 6)),
                          elements=st.integers(0, 3))


def brute_force_match(pred, target, thresh):
    """(most pairs, then largest summed IoU) over every one-to-one matching, by enumeration."""
    t_ids = [i for i in np.unique(target) if i]
    p_ids = [j for j in np.unique(pred) if j]

    def iou(i, j):
        a, b = target == i, pred == j
        return (a & b).sum() / (a | b).sum()

    best = (0, 0.0)
    for k in range(min(len(t_ids), len(p_ids)) + 1):
        for ts in itertools.combinations(t_ids, k):
            for ps in itertools.permutations(p_ids, k):
                scores = [iou(i, j) for i, j in zip(ts, ps)]
                if all(s >= thresh for s in scores):
                    best = max(best, (k, float(sum(scores))))
    return best


@given(small_labels, small_labels, st.sampled_from([0.1, 0.3, 0.5, 0.7]))
def test_matching_agrees_with_brute_force(target, pred_raw, thresh):
    pred = pred_raw[: target.shape[0], : target.shape[1]]
    pred = np.pad(pred, [(0, target.shape[0] - pred.shape[0]), (0, target.shape[1] -
                                                               pred.shape[1])])
    r = match_instances(pred, target, thresh)
    count, iou_sum = brute_force_match(pred, target, thresh)
    assert r["tp"] == count
    assert r["matched_iou"].sum() == pytest.approx(iou_sum)
    assert r["fp"] == r["n_pred"] - count and r["fn"] == r["n_true"] - count
    # every reported match is a real pair above the threshold, no object twice
    iou, t_ids, p_ids = instance_iou(pred, target)
    for (i, j), v in zip(r["matches"], r["matched_iou"]):
        assert v >= thresh and v == pytest.approx(iou[t_ids == i, p_ids == j][0])
    assert len(set(r["matches"][:, 0])) == len(set(r["matches"][:, 1])) == r["tp"]


@given(small_labels, small_labels, st.randoms(use_true_random=False))
def test_relabelling_changes_nothing_and_roles_are_symmetric(target, pred, rnd):
    pred = np.resize(pred, target.shape)
    perm = np.array([0] + rnd.sample(range(1, 50), 3))  # a new id for every old one
    a, b = match_instances(pred, target), match_instances(perm[pred], perm[target])
    for key in ("tp", "fp", "fn", "ap", "f1", "pq", "precision", "recall"):
        assert a[key] == pytest.approx(b[key]), key
    assert dsb_score(pred, target) == pytest.approx(dsb_score(perm[pred], perm[target]))
    # AJI breaks IoU ties by id order: an order-keeping relabelling leaves it unchanged
    monotone = np.array([0, 5, 17, 90])
    assert aji(pred, target) == pytest.approx(aji(monotone[pred], monotone[target]))
    s = match_instances(target, pred)  # roles swapped: FP <-> FN, precision <-> recall
    assert (s["tp"], s["fp"], s["fn"]) == (a["tp"], a["fn"], a["fp"])
    assert s["precision"] == a["recall"] and s["recall"] == a["precision"]
    assert s["ap"] == a["ap"] and s["f1"] == a["f1"] and s["pq"] == pytest.approx(a["pq"])


def test_agrees_with_stardist_matching():
    matching = pytest.importorskip("stardist.matching").matching
    rng = np.random.default_rng(0)
    for _ in range(40):
        t, p = rng.integers(0, 5, (2, 9, 11))
        for thresh in (0.3, 0.5, 0.75):
            s, r = matching(t, p, thresh=thresh), match_instances(p, t, thresh)
            assert (s.tp, s.fp, s.fn) == (r["tp"], r["fp"], r["fn"])
            assert s.accuracy == pytest.approx(r["ap"]) and s.f1 == pytest.approx(r["f1"])
            if thresh >= 0.5:  # below 0.5 stardist's tie-break may pick other (equal-count) pairs
                assert s.panoptic_quality == pytest.approx(r["pq"], rel=1e-6)


def test_dataset_form_pools_counts_and_keeps_each_image():
    m = InstanceMetrics()
    m.update(SPLIT_P, SPLIT_T)
    m.update(MERGE_P, MERGE_T)
    r = m.compute()
    # pooled: TP 1 + 1, FP 1 + 0, FN 0 + 1, summed IoU 0.75 + 2/3
    assert (r["n_images"], r["tp"], r["fp"], r["fn"], r["n_true"], r["n_pred"]) == \
        (2, 2, 1, 1, 3, 3)
    assert r["ap"] == pytest.approx(2 / 4) and r["f1"] == pytest.approx(4 / 6)
    assert r["pq"] == pytest.approx((0.75 + 2 / 3) / (2 + 1 / 2 + 1 / 2))
    assert r["aji"] == pytest.approx((12 + 24) / (20 + 48))
    # the pooled numbers are those of one image holding both side by side (ids kept apart)
    side = np.concatenate([SPLIT_T, MERGE_T + 10 * (MERGE_T > 0)], axis=1)
    side_p = np.concatenate([SPLIT_P, MERGE_P + 10 * (MERGE_P > 0)], axis=1)
    one = match_instances(side_p, side)
    assert (one["tp"], one["fp"], one["fn"], one["pq"]) == (r["tp"], r["fp"], r["fn"],
                                                           pytest.approx(r["pq"]))
    assert r["dsb"] == pytest.approx(dsb_score(side_p, side))
    assert r["aji"] == pytest.approx(aji(side_p, side))
    first = m.per_image[0]
    assert first["ap"] == 0.5 and first["dsb"] == pytest.approx(0.3)
    assert first["aji"] == pytest.approx(0.6) and len(m.per_image) == 2
    m.reset()
    with pytest.raises(ValueError, match="nothing counted yet"):
        m.compute()
    assert InstanceMetrics(0.75).update(SPLIT_P, SPLIT_T) is None


@pytest.mark.parametrize("pred, target, error, match", [
    (np.zeros((4, 5), int), np.zeros((4, 6), int), ValueError,
     r"same shape; got \(4, 5\) and \(4, 6\)"),
    (np.zeros((4, 6)), MERGE_T, TypeError, "pred must be an integer label image.*float64"),
    (MERGE_P, MERGE_T > 0, TypeError, "target must be an integer label.*bool.*ndimage.label"),
    (MERGE_T - 2, MERGE_T, ValueError, "pred must hold non-negative ids.*got -1"),
    (np.int64(3), np.int64(3), ValueError, "at least one axis; got a scalar"),
])
def test_instance_metrics_bad_input(pred, target, error, match):
    for fn in (match_instances, dsb_score, aji, instance_iou,
               lambda p, t: InstanceMetrics().update(p, t)):
        with pytest.raises(error, match=match):
            fn(pred, target)


@pytest.mark.parametrize("thresh, error, match", [
    (0.0, ValueError, r"thresh must be a finite number in \(0.0, 1.0\]; got 0.0"),
    (1.5, ValueError, r"in \(0.0, 1.0\]; got 1.5"),
    ("0.5", TypeError, "got '0.5'"),
    ([], ValueError, "non-empty sequence"),
])
def test_bad_thresholds(thresh, error, match):
    with pytest.raises(error, match=match):
        match_instances(MERGE_P, MERGE_T, thresh)
    if not isinstance(thresh, list):
        with pytest.raises(error, match=match):
            InstanceMetrics(thresh)
