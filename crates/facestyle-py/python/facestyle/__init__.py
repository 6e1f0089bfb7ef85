"""facestyle: face verification, search and clustering, neural style transfer and ConvNet
visualisation, computed by a Rust engine (no deep-learning framework underneath).

Quick start::

    import facestyle
    facestyle.verify("a.jpg", "b.jpg")        # Verification(same=True, distance=0.536, ...)
    facestyle.embed("group.jpg")              # (n, 128) float32, one row per face
    g = facestyle.Gallery("people.db")
    g.enroll("Ada", ["ada.jpg"])              # one photo is enough
    g.identify("party.jpg")                   # who is each face, or "unknown"

Images are accepted as paths, encoded bytes, numpy arrays ``(H, W, 3) uint8`` RGB and PIL
images (OpenCV users: convert BGR to RGB). Every call releases the GIL while it computes.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import _native
from ._faces import (
    ALIGNED_SIZE,
    EMBEDDING_SIZE,
    ClusterMember,
    Face,
    FaceEmbedding,
    FaceEngine,
    Verification,
    default_engine,
    face_distance,
)
from ._gallery import UNKNOWN, Candidate, Enrolled, Gallery, Identified, Person
from ._images import ImageLike, load_image
from ._style import StyleResult, style_transfer
from ._viz import LayerGrid, TopPatches, top_patches

ModelError = _native.ModelError
NoFaceError = _native.NoFaceError
GalleryError = _native.GalleryError
for _e in (ModelError, NoFaceError, GalleryError):
    _e.__module__ = "facestyle"

__version__: str = "0.1.0"

__all__ = [
    "ALIGNED_SIZE", "EMBEDDING_SIZE", "UNKNOWN", "Candidate", "ClusterMember", "Enrolled", "Face",
    "FaceEmbedding", "FaceEngine", "Gallery", "GalleryError", "Identified", "ImageLike", "LayerGrid",
    "ModelError", "NoFaceError", "Person", "StyleResult", "TopPatches", "Verification", "align",
    "cluster", "default_engine", "detect", "embed", "face_distance", "load_image", "style_transfer",
    "top_patches", "verify",
]


def verify(a: ImageLike, b: ImageLike, *, metric: Optional[str] = None,
           threshold: Optional[float] = None) -> Verification:
    """Are the largest faces in ``a`` and ``b`` the same person?

    Returns a :class:`Verification` with ``same``, ``distance`` and ``threshold`` (same when
    ``distance <= threshold``; by default the squared L2 distance of unit SFace embeddings and
    the threshold tuned on LFW). Raises ``ValueError`` for an image that cannot be read and
    :class:`NoFaceError` (a ``ValueError``) for one without a face.
    """
    return default_engine().verify(a, b, metric=metric, threshold=threshold)


def embed(image: ImageLike) -> np.ndarray:
    """The 128-d unit embeddings of every face in ``image``, best detection first:
    ``numpy.ndarray`` of shape ``(n, 128)``, ``float32`` (``n`` is 0 without a face)."""
    return default_engine().embed(image)


def detect(image: ImageLike) -> list[Face]:
    """Every face in ``image`` (box, score, five landmarks), best score first."""
    return default_engine().detect(image)


def align(image: ImageLike, face: Optional[Face] = None) -> np.ndarray:
    """The 112x112 aligned crop of ``face`` (default: the largest face) as ``(112, 112, 3)
    uint8``."""
    return default_engine().align(image, face)


def cluster(images: Sequence[ImageLike], *, metric: Optional[str] = None, threshold: Optional[float] = None,
            iterations: int = 30, seed: int = 1) -> list[list[ClusterMember]]:
    """Groups every face of ``images`` by identity; clusters largest first, each a list of
    :class:`ClusterMember` (the image's index in ``images`` and the face)."""
    return default_engine().cluster(images, metric=metric, threshold=threshold, iterations=iterations, seed=seed)
