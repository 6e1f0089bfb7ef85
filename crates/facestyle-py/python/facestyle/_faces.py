"""Faces: detect, align, embed, verify, cluster, with one engine loaded once and shared by
every thread (each call releases the GIL)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

import numpy as np

from . import _native
from ._images import ImageLike, picture, pictures, to_array

EMBEDDING_SIZE: int = _native.EMBEDDING_SIZE
ALIGNED_SIZE: int = _native.ALIGNED_SIZE


@dataclass(frozen=True)
class Face:
    """A face found in an image.

    ``box`` is ``(x, y, width, height)`` in pixels, ``score`` the detector's confidence in
    [0, 1], ``landmarks`` five ``(x, y)`` points: eye (image left), eye (image right), nose tip,
    mouth corner (left), mouth corner (right). ``fallback`` says how it was found when no face
    reached the score threshold: ``None``, ``"low_score"`` or ``"padded"``.
    """

    box: Tuple[float, float, float, float]
    score: float
    landmarks: Tuple[Tuple[float, float], ...]
    fallback: Optional[str] = None

    @classmethod
    def _of(cls, t) -> "Face":
        box, score, landmarks, fallback = t
        return cls(tuple(box), score, tuple(tuple(p) for p in landmarks), fallback)

    def to_dict(self) -> dict:
        """The face as plain lists and numbers (for JSON)."""
        return {"box": list(self.box), "score": self.score, "landmarks": [list(p) for p in self.landmarks],
                "fallback": self.fallback}


@dataclass(frozen=True)
class FaceEmbedding:
    """A face with its unit-length 128-d embedding (``numpy.float32``)."""

    face: Face
    embedding: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Verification:
    """A 1:1 decision: the same person when ``distance <= threshold``.

    ``faces_a`` and ``faces_b`` count the faces found in each image (the largest is compared).
    """

    same: bool
    distance: float
    threshold: float
    metric: str
    faces_a: int
    faces_b: int

    def __bool__(self) -> bool:
        return self.same


@dataclass(frozen=True)
class ClusterMember:
    """A face of a cluster: the index of its image in the list given, and the face."""

    image: int
    face: Face


def _embeddings(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32).reshape(-1, EMBEDDING_SIZE).copy()


class FaceEngine:
    """The face pipeline: YuNet detection, 5-point alignment, SFace embedding (128-d).

    The pinned model weights are fetched into the cache the command line uses
    (``$FACESTYLE_MODELS``, else ``$XDG_CACHE_HOME/facestyle/models``) on first use.

    :param score_threshold: minimum detector score of a face (0 to 1).
    :param max_side: images with a longer side are scaled down to this for detection.
    :param fallback: when no face reaches the threshold, retry at score 0.7 and then on the
        image with a border added (for photos that are only a face); such faces say so in
        :attr:`Face.fallback`.
    :param model: a model directory written by ``facestyle face train`` to embed with
        instead of SFace.
    :param metric: ``"sq-l2"`` (squared L2 distance on unit vectors, the default) or
        ``"cosine"`` (1 - cosine similarity).
    :param threshold: the verification threshold tau (default: the metric's value tuned on
        LFW for SFace, or the model's validation threshold).
    """

    def __init__(self, score_threshold: float = 0.9, max_side: int = 640, fallback: bool = True,
                 model: Optional[os.PathLike] = None, metric: str = "sq-l2",
                 threshold: Optional[float] = None) -> None:
        self._native = _native.Engine(score_threshold, max_side, fallback,
                                      None if model is None else os.fspath(model))
        self.metric = metric
        self.threshold = self._native.resolve_threshold(metric, threshold)

    def __repr__(self) -> str:
        return (f"FaceEngine(model={self._native.model_id!r}, version={self._native.model_version!r}, "
                f"metric={self.metric!r}, threshold={self.threshold:.4f})")

    @property
    def model_id(self) -> str:
        """The embedding model's name (galleries record it and refuse another)."""
        return self._native.model_id

    @property
    def model_version(self) -> str:
        """The embedding weights' sha256 prefix."""
        return self._native.model_version

    def _decision(self, metric: Optional[str], threshold: Optional[float]) -> Tuple[str, Optional[float]]:
        """The metric and threshold of a call: the engine's unless a metric is given (then the
        threshold given, or that metric's own in the native code)."""
        if metric is None:
            return self.metric, self.threshold if threshold is None else threshold
        return metric, threshold

    # -- detection ------------------------------------------------------------------------

    def detect(self, image: ImageLike) -> list[Face]:
        """Every face in ``image``, best score first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[ImageLike]) -> list[list[Face]]:
        """:meth:`detect` for each image of a list."""
        return [[Face._of(t) for t in faces] for faces in self._native.detect(pictures(images))]

    # -- embedding ------------------------------------------------------------------------

    def embed(self, image: ImageLike) -> np.ndarray:
        """Embeddings of every face in ``image``, best score first: ``(n, 128) float32``,
        unit length (``n`` is 0 when there is no face)."""
        return self.embed_batch([image])[0]

    def embed_batch(self, images: Sequence[ImageLike]) -> list[np.ndarray]:
        """:meth:`embed` for each image of a list."""
        return [_embeddings(data) for _, data in self._native.analyze(pictures(images))]

    def faces(self, image: ImageLike) -> list[FaceEmbedding]:
        """Every face in ``image`` with its embedding, best score first."""
        return self.faces_batch([image])[0]

    def faces_batch(self, images: Sequence[ImageLike]) -> list[list[FaceEmbedding]]:
        """:meth:`faces` for each image of a list."""
        out = []
        for found, data in self._native.analyze(pictures(images)):
            embs = _embeddings(data)
            out.append([FaceEmbedding(Face._of(t), e) for t, e in zip(found, embs)])
        return out

    def largest(self, image: ImageLike) -> FaceEmbedding:
        """The largest face in ``image`` with its embedding; :class:`NoFaceError` if none."""
        t, data, _count = self._native.largest([picture(image)])[0]
        return FaceEmbedding(Face._of(t), _embeddings(data)[0])

    def embed_aligned(self, crops: Sequence[ImageLike]) -> np.ndarray:
        """Embeddings of faces already aligned to 112x112 (as :meth:`align` makes them):
        ``(n, 128) float32``."""
        return _embeddings(self._native.embed_aligned(pictures(crops, "crops")))

    # -- alignment ------------------------------------------------------------------------

    def align(self, image: ImageLike, face: Optional[Face] = None) -> np.ndarray:
        """The 112x112 RGB crop of ``face`` (default: the largest face) aligned on its five
        landmarks, as the embedder sees it: ``(112, 112, 3) uint8``."""
        p = picture(image)
        if face is None:
            face = self.largest(p).face
        data = self._native.align(p, [list(pt) for pt in face.landmarks])
        return to_array(data, ALIGNED_SIZE, ALIGNED_SIZE)

    def align_batch(self, image: ImageLike, faces: Optional[Sequence[Face]] = None) -> list[np.ndarray]:
        """Aligned crops of several faces of one image (default: all of them)."""
        p = picture(image)
        if faces is None:
            faces = self.detect(p)
        return [self.align(p, f) for f in faces]

    # -- verification ---------------------------------------------------------------------

    def verify(self, a: ImageLike, b: ImageLike, *, metric: Optional[str] = None,
               threshold: Optional[float] = None) -> Verification:
        """Are the largest faces of ``a`` and ``b`` the same person (``distance <= threshold``)?

        Raises :class:`NoFaceError` (a ``ValueError``) naming an image without a face.
        """
        return self.verify_batch([(a, b)], metric=metric, threshold=threshold)[0]

    def verify_batch(self, pairs: Sequence[Tuple[ImageLike, ImageLike]], *, metric: Optional[str] = None,
                     threshold: Optional[float] = None) -> list[Verification]:
        """:meth:`verify` for each ``(a, b)`` pair of a list."""
        metric, threshold = self._decision(metric, threshold)
        pics = [(picture(a), picture(b)) for a, b in pairs]
        return [Verification(same, distance, tau, m, na, nb)
                for m, distance, tau, same, na, nb in self._native.verify(pics, metric, threshold)]

    def distance(self, a: np.ndarray, b: np.ndarray, metric: Optional[str] = None) -> np.ndarray:
        """Distances between embeddings (rows of ``a`` against ``b``, broadcast as numpy does)
        under ``metric`` (default the engine's)."""
        return face_distance(a, b, metric or self.metric)

    # -- clustering -----------------------------------------------------------------------

    def cluster(self, images: Sequence[ImageLike], *, metric: Optional[str] = None,
                threshold: Optional[float] = None, iterations: int = 30, seed: int = 1) -> list[list[ClusterMember]]:
        """Groups every face of ``images`` by identity (Chinese whispers on the graph linking
        faces the verifier calls the same). Returns the clusters, largest first; a face alone
        is a cluster of one."""
        metric, threshold = self._decision(metric, threshold)
        found = self._native.cluster(pictures(images), metric, threshold, iterations, seed)
        clusters: list[list[ClusterMember]] = [[] for _ in range(1 + max((l for _, _, l in found), default=-1))]
        for image, t, label in found:
            clusters[label].append(ClusterMember(image, Face._of(t)))
        return clusters


def face_distance(a: np.ndarray, b: np.ndarray, metric: str = "sq-l2") -> np.ndarray:
    """Distances between unit-length embeddings: ``"sq-l2"`` is ``||a - b||^2`` (0 to 4),
    ``"cosine"`` is ``1 - a.b`` (0 to 2). ``a`` ``(n, 128)`` against ``b`` ``(128,)`` gives
    ``(n,)``, as face_recognition's ``face_distance``."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if metric in ("sq-l2", "sql2", "l2"):
        return np.sum((a - b) ** 2, axis=-1)
    if metric in ("cosine", "cos"):
        return 1.0 - np.sum(a * b, axis=-1)
    raise ValueError(f"metric: '{metric}': expected 'sq-l2' or 'cosine'")


_default: Optional[FaceEngine] = None
_default_lock = threading.Lock()


def default_engine() -> FaceEngine:
    """The engine the module-level functions use, loaded on first use (thread-safe)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FaceEngine()
        return _default
