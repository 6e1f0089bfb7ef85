"""What ConvNets learn: for chosen units of chosen layers, the image patches (their exact
receptive fields) that excite each unit most over a collection, one grid per layer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _native
from ._images import to_array


@dataclass(frozen=True)
class LayerGrid:
    """One layer's grid (``(H, W, 3) uint8``: a block of ``top`` patches per unit) and its
    units with their patches (value, image, position, receptive field)."""

    layer: str
    grid: np.ndarray = field(repr=False)
    units: list = field(repr=False)


@dataclass(frozen=True)
class TopPatches:
    """Grids by layer name, and the files skipped with the reason."""

    layers: dict
    skipped: list


def _files(images: Union[os.PathLike, str, Sequence], limit: Optional[int]) -> list[str]:
    given = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    files: list[str] = []
    for item in given:
        path = os.fspath(item)
        if os.path.isdir(path):
            found = [os.fspath(p) for p in _native.image_files(path)]
            if limit is not None and limit < len(found):
                found = [found[i * len(found) // limit] for i in range(limit)]
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise FileNotFoundError(2, "No such file or directory", path)
    return files


def top_patches(
    images: Union[os.PathLike, str, Sequence],
    *,
    model: str = "vgg19",
    layers: Optional[Sequence[str]] = None,
    limit: Optional[int] = None,
    units: int = 9,
    top: int = 9,
    pick: str = "first",
    size: int = 224,
    cell: int = 64,
    layout: str = "blocks",
    progress: Optional[Callable[[int, int], None]] = None,
) -> TopPatches:
    """The 9 patches that excite each unit most, a grid per layer, as ``facestyle viz
    top-patches`` makes them.

    :param images: a folder (searched recursively), an image file, or a list of them.
    :param model: ``"vgg19"``, ``"sface"`` (each image's largest face, aligned), a model
        directory written by ``facestyle face train``, or an SFace-architecture ``.onnx`` file.
    :param layers: layer names (default: one per block, VGG19's conv1_1 ... conv5_1).
    :param limit: at most this many images from each folder, spread over its sorted list.
    :param units: units shown per layer. :param top: patches per unit.
    :param pick: ``"first"``, ``"active"`` (highest mean activation) or ``"random[:SEED]"``.
    :param size: long side of the images as the network sees them.
    :param cell: side of one patch in the grid, in pixels.
    :param layout: ``"blocks"`` (a square block per unit) or ``"strip"`` (a row per unit).
    :param progress: ``progress(done, total)`` after each image.
    """
    grids, skipped = _native.top_patches(
        _files(images, limit), model=model, layers=None if layers is None else list(layers), units=units,
        top=top, pick=pick, size=size, cell=cell, layout=layout, progress=progress,
    )
    out = {}
    for name, data, w, h, report in grids:
        out[name] = LayerGrid(name, to_array(data, w, h), json.loads(report)["units"])
    return TopPatches(out, [(os.fspath(p), reason) for p, reason in skipped])
