"""Detect, align, embed, verify and cluster through the Python API."""

import numpy as np
import pytest

import facestyle
from conftest import BUSH, CROPS, GUL_1, GUL_8, POWELL


def test_verify_says_same_for_one_person_and_different_for_two(engine):
    same = facestyle.verify(GUL_1, GUL_8)
    assert same.same and bool(same)
    assert same.distance <= same.threshold
    assert (same.metric, same.faces_a, same.faces_b) == ("sq-l2", 1, 3)
    other = facestyle.verify(GUL_1, POWELL)
    assert not other.same and other.distance > other.threshold
    assert abs(other.threshold - 1.307) < 1e-6


def test_verify_thresholds_and_metrics(engine):
    strict = facestyle.verify(GUL_1, GUL_8, threshold=0.01)
    assert not strict.same and strict.threshold == pytest.approx(0.01)
    sq = facestyle.verify(GUL_1, POWELL)
    cos = facestyle.verify(GUL_1, POWELL, metric="cosine")
    assert cos.metric == "cosine"
    assert cos.distance == pytest.approx(sq.distance / 2, abs=1e-5)
    assert cos.threshold == pytest.approx(sq.threshold / 2)
    with pytest.raises(ValueError, match="metric"):
        facestyle.verify(GUL_1, POWELL, metric="manhattan")
    with pytest.raises(ValueError, match="threshold"):
        facestyle.verify(GUL_1, POWELL, threshold=float("nan"))


def test_embed_gives_unit_float32_rows_one_per_face(engine):
    e = facestyle.embed(GUL_8)
    assert e.shape == (3, facestyle.EMBEDDING_SIZE) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e.flags.writeable
    none = facestyle.embed(np.full((120, 160, 3), 128, np.uint8))
    assert none.shape == (0, 128) and none.dtype == np.float32


def test_detect_gives_boxes_scores_and_five_landmarks_best_first(engine):
    faces = facestyle.detect(GUL_8)
    assert len(faces) == 3
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    for f in faces:
        x, y, w, h = f.box
        assert w > 10 and h > 10 and 0 <= f.score <= 1 and f.fallback is None
        assert len(f.landmarks) == 5
        for px, py in f.landmarks:
            assert x - w / 2 <= px <= x + 1.5 * w and y - h / 2 <= py <= y + 1.5 * h
    d = faces[0].to_dict()
    assert set(d) == {"box", "score", "landmarks", "fallback"}


def test_aligned_crops_embed_as_the_pipeline_does(engine):
    crop = facestyle.align(POWELL)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    again = engine.embed_aligned([crop])
    assert again.shape == (1, 128)
    assert float(again[0] @ facestyle.embed(POWELL)[0]) > 0.9999
    crops = engine.align_batch(GUL_8)
    assert len(crops) == 3 and all(c.shape == (112, 112, 3) for c in crops)
    with pytest.raises(ValueError, match="112x112"):
        engine.embed_aligned([np.zeros((100, 112, 3), np.uint8)])


def test_aligned_crops_embed_like_opencvs(engine):
    # crops/NAME_i.png are OpenCV's alignCrop of face i of fixture photo NAME: the crops differ
    # by landmark rounding and interpolation details, the embeddings hardly at all.
    opencv = engine.embed_aligned([facestyle.load_image(CROPS / "Colin_Powell_0001_0.png")])[0]
    ours = engine.embed_aligned([facestyle.align(POWELL, facestyle.detect(POWELL)[0])])[0]
    assert float(opencv @ ours) > 0.995


def test_batch_calls_equal_single_calls(engine):
    images = [GUL_1, GUL_8, POWELL, BUSH]
    batch = engine.embed_batch(images)
    for image, rows in zip(images, batch):
        assert np.array_equal(rows, engine.embed(image))
    assert engine.detect_batch(images)[1] == engine.detect(GUL_8)
    pairs = [(GUL_1, GUL_8), (GUL_1, POWELL)]
    assert engine.verify_batch(pairs) == [engine.verify(a, b) for a, b in pairs]
    faces = engine.faces(GUL_8)
    assert [f.face for f in faces] == engine.detect(GUL_8)
    assert np.array_equal(np.stack([f.embedding for f in faces]), engine.embed(GUL_8))
    largest = engine.largest(GUL_8)
    assert largest.face.box[2] * largest.face.box[3] == max(f.box[2] * f.box[3] for f in engine.detect(GUL_8))


def test_face_distance_is_the_verification_distance(engine):
    a, b = facestyle.embed(GUL_1)[0], facestyle.embed(POWELL)[0]
    d = facestyle.face_distance(np.stack([a, b]), a)
    assert d.shape == (2,) and d[0] == pytest.approx(0, abs=1e-6)
    assert d[1] == pytest.approx(facestyle.verify(GUL_1, POWELL).distance, abs=1e-5)
    assert facestyle.face_distance(a, b, "cosine") == pytest.approx(d[1] / 2, abs=1e-5)


def test_no_face_raises_a_value_error_naming_the_image(engine):
    blank = np.full((200, 200, 3), 90, np.uint8)
    with pytest.raises(facestyle.NoFaceError, match="array: no face found"):
        facestyle.verify(GUL_1, blank)
    with pytest.raises(ValueError):
        engine.largest(blank)
    with pytest.raises(facestyle.NoFaceError):
        facestyle.align(blank)


def test_cluster_groups_one_person_apart_from_others(engine):
    images = [GUL_1, GUL_8, POWELL, BUSH]
    clusters = facestyle.cluster(images)
    assert sum(len(c) for c in clusters) == 6  # 1 + 3 + 1 + 1 faces
    assert len(clusters[0]) == 2
    assert sorted(m.image for m in clusters[0]) == [0, 1]
    assert all(len(c) == 1 for c in clusters[1:])
    assert [len(c) for c in clusters] == sorted((len(c) for c in clusters), reverse=True)


def test_engine_settings_are_checked():
    with pytest.raises(ValueError, match="score_threshold"):
        facestyle.FaceEngine(score_threshold=1.5)
    with pytest.raises(ValueError, match="max_side"):
        facestyle.FaceEngine(max_side=8)
    with pytest.raises(facestyle.ModelError, match="model directory"):
        facestyle.FaceEngine(model=CROPS)


def test_the_engine_reports_its_model(engine):
    assert engine.model_id == "sface-2021dec-int8bq"
    assert len(engine.model_version) == 12
    assert "sface" in repr(engine)


def test_cluster_threshold_zero_leaves_every_face_alone(engine):
    clusters = facestyle.cluster([GUL_1, GUL_8], threshold=0.0)
    assert [len(c) for c in clusters] == [1, 1, 1, 1]
    by_cosine = engine.cluster([GUL_1, GUL_8], metric="cosine")
    assert [len(c) for c in by_cosine] == [2, 1, 1]
