"""Every image input the package takes, turned into one decoded picture.

Accepted: a path (``str`` or ``os.PathLike``) or encoded bytes of a JPEG, PNG, BMP, WebP, TIFF
or GIF file (EXIF orientation applied); a numpy array of ``uint8`` pixels, ``(H, W, 3)`` RGB,
``(H, W, 4)`` RGBA (alpha dropped) or ``(H, W)`` grey; a PIL image (any mode, converted to RGB).
OpenCV loads images as BGR: give ``img[:, :, ::-1]`` or ``cv2.cvtColor(img, cv2.COLOR_BGR2RGB)``.
"""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

from . import _native

#: What the image arguments of this package accept.
ImageLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, Any]


def _from_array(a: np.ndarray, name: str) -> _native.Picture:
    if a.dtype != np.uint8:
        raise ValueError(
            f"{name}: pixels of type {a.dtype}, expected uint8 (0-255); "
            "scale and convert first, e.g. (a / 257).astype(np.uint8) for 16-bit"
        )
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name}: array of shape {a.shape}, expected (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey")
    h, w = a.shape[:2]
    if h * w > _native.MAX_PIXELS:
        raise ValueError(f"{name}: image is {w}x{h} = {w * h} pixels, above the limit of {_native.MAX_PIXELS}")
    if h * w == 0:
        raise ValueError(f"{name}: image has no pixels ({w}x{h})")
    return _native.Picture.from_rgb(np.ascontiguousarray(a).tobytes(), w, h, name)


def picture(image: ImageLike, name: str | None = None) -> _native.Picture:
    """The decoded picture of any accepted input; ``name`` names it in errors."""
    if isinstance(image, _native.Picture):
        return image
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        with open(path, "rb") as f:
            data = f.read()
        return _native.Picture.decode(data, name or path)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _native.Picture.decode(bytes(image), name or "image bytes")
    if isinstance(image, np.ndarray):
        return _from_array(image, name or "array")
    if hasattr(image, "convert") and hasattr(image, "mode") and hasattr(image, "size"):
        rgb = image.convert("RGB")
        return _from_array(np.asarray(rgb, dtype=np.uint8), name or f"PIL image ({image.mode})")
    raise TypeError(
        f"cannot use a {type(image).__name__} as an image: give a path, encoded bytes, "
        "a numpy array (H, W, 3) uint8 RGB or a PIL image"
    )


def pictures(images: Any, what: str = "images") -> list[_native.Picture]:
    """Pictures of a list of images (a single image is not a list: wrap it)."""
    if isinstance(images, (str, bytes, bytearray, memoryview, np.ndarray, os.PathLike)) or not hasattr(
        images, "__iter__"
    ):
        raise TypeError(f"{what}: expected a list of images, got a single {type(images).__name__}")
    return [picture(im) for im in images]


def to_array(data: bytes, width: int, height: int) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB pixels from their bytes (a writable copy)."""
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).copy()


def load_image(image: ImageLike) -> np.ndarray:
    """The image as the package sees it: ``(H, W, 3)`` uint8 RGB, upright (EXIF applied)."""
    p = picture(image)
    return to_array(p.rgb(), p.width, p.height)
