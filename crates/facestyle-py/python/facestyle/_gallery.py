"""Galleries: people enrolled from one photo or more, searched 1:K with "unknown" when nobody
is close. A gallery is the command line's: a SQLite file, or a PostgreSQL database with pgvector
given by a ``postgres://`` URL (same tables and checks)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

from . import _native
from ._faces import Face, FaceEngine, default_engine
from ._images import ImageLike, picture, pictures

#: The name of a face nobody in the gallery is close enough to.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Enrolled:
    """What an enrolment did: the name as stored (trimmed, Unicode NFC), faces added, faces
    whose image the person already had, the person's embeddings afterwards, and each image's
    detector fallback (``None`` when found at the score threshold)."""

    name: str
    added: int
    already_present: int
    embeddings: int
    fallbacks: Tuple[Optional[str], ...]


@dataclass(frozen=True)
class Candidate:
    """A person near a face, at the distance of their closest embedding."""

    name: str
    distance: float


@dataclass(frozen=True)
class Identified:
    """A face of the image and who it is: the closest person when within the threshold, else
    ``"unknown"``; ``distance`` is the closest person's (``None`` for an empty gallery) and
    ``candidates`` the closest people, closest first."""

    face: Face
    name: str
    distance: Optional[float]
    candidates: Tuple[Candidate, ...]

    @property
    def known(self) -> bool:
        """Whether the face is someone in the gallery (``"unknown"`` cannot be a name)."""
        return self.name != UNKNOWN


@dataclass(frozen=True)
class Person:
    """Someone enrolled, with how many embeddings the gallery holds for them and since when
    (UTC, ``YYYY-MM-DD HH:MM:SS``)."""

    name: str
    embeddings: int
    created_at: str


class Gallery:
    """A gallery of people in a SQLite file or a PostgreSQL database (``postgres://user@host/db``),
    created on first use unless ``create=False``.

    Every enrolment is one transaction: a photo without a face or a bad name changes nothing,
    and enrolling the same photo again adds nothing. The gallery records which model made its
    embeddings and refuses another.

    :param path: the gallery file or PostgreSQL URL (the command line's ``--gallery``).
    :param engine: the face engine (default: the shared default engine).
    :param search: how a SQLite gallery is searched: ``"auto"`` (exactly up to 200,000 faces,
        through its approximate HNSW index from there on), ``"exact"`` or ``"approximate"``;
        the command line's ``--search``. Building the index shows progress on stderr.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        engine: Optional[FaceEngine] = None,
        create: bool = True,
        search: str = "auto",
    ) -> None:
        self.engine = engine or default_engine()
        self._native = _native.Gallery(os.fspath(path), self.engine._native, create, search)

    def __repr__(self) -> str:
        return f"Gallery({self.location!r})"

    @property
    def location(self) -> str:
        """The gallery file, or its URL without the password."""
        return self._native.location

    def enroll(self, name: str, images: Sequence[ImageLike]) -> Enrolled:
        """Adds the largest face of each image to person ``name`` (one photo is enough)."""
        if not isinstance(images, (list, tuple)):
            images = [images]
        stored, added, present, total, fallbacks = self._native.enroll(name, pictures(images))
        return Enrolled(stored, added, present, total, tuple(fallbacks))

    def identify(self, image: ImageLike, top: int = 1, *, metric: Optional[str] = None,
                 threshold: Optional[float] = None) -> list[Identified]:
        """Every face in ``image``, identified: who it is (or ``"unknown"``) and the ``top``
        closest people."""
        return self.identify_batch([image], top, metric=metric, threshold=threshold)[0]

    def identify_batch(self, images: Sequence[ImageLike], top: int = 1, *, metric: Optional[str] = None,
                       threshold: Optional[float] = None) -> list[list[Identified]]:
        """:meth:`identify` for each image of a list (the gallery is read once)."""
        metric, threshold = self.engine._decision(metric, threshold)
        found = self._native.identify(pictures(images), top, metric, threshold)
        return [[Identified(Face._of(t), name, distance, tuple(Candidate(n, d) for n, d in cands))
                 for t, name, distance, cands in faces] for faces in found]

    def people(self) -> list[Person]:
        """Everyone enrolled, by name."""
        return [Person(*p) for p in self._native.people()]

    def forget(self, name: str) -> bool:
        """Removes a person and their embeddings; ``False`` when there is no such person."""
        return self._native.forget(name)

    def __len__(self) -> int:
        return len(self._native.people())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(p[0] == name for p in self._native.people())
