"""Neural style transfer (Gatys et al.) with the command line's options and defaults: the
``fast`` preset (L-BFGS from the content image, coarse to fine) unless ``method="gatys"``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _native
from ._images import ImageLike, picture, to_array

#: ``progress(step, steps, loss)``; return ``False`` to stop early.
Progress = Callable[[int, int, float], Optional[bool]]


@dataclass(frozen=True)
class StyleResult:
    """A styled picture and how it was made.

    ``image`` is ``(H, W, 3) uint8`` RGB. ``ssim`` (structure kept: SSIM of luminance against
    the content) and ``style_ratio`` (style carried: the result's style loss over the content
    image's) are the quality measure; ``meets_bar`` says whether SSIM >= 0.3 and the ratio
    <= 0.05. ``evaluations`` counts evaluations of J at the output size (a half-size level
    counts a quarter), ``losses`` holds J per step, ``stopped`` says the progress callback
    stopped the run.
    """

    image: np.ndarray = field(repr=False)
    ssim: float
    style_ratio: float
    meets_bar: bool
    evaluations: float
    seconds: float
    stopped: bool
    losses: list = field(repr=False)

    def to_pil(self):
        """The picture as a PIL image (needs pillow)."""
        from PIL import Image

        return Image.fromarray(self.image, "RGB")

    def save(self, path: os.PathLike) -> None:
        """Writes the picture (PNG, JPEG, ... by the file's extension; needs pillow)."""
        self.to_pil().save(os.fspath(path))


def style_transfer(
    content: ImageLike,
    style: Union[ImageLike, Sequence[ImageLike]],
    *,
    size: int = 256,
    method: str = "fast",
    iterations: Optional[int] = None,
    alpha: float = 1.0,
    beta: Optional[float] = None,
    tv_weight: float = 0.0,
    luma_weight: Optional[float] = None,
    optimizer: Optional[str] = None,
    lr: Optional[float] = None,
    init: Optional[str] = None,
    seed: int = 1,
    content_layer: str = "conv4_2",
    style_layers: Union[None, str, Sequence[tuple]] = None,
    style_blend: Optional[Sequence[float]] = None,
    pooling: str = "max",
    preserve_colors: bool = False,
    style_scale: float = 1.0,
    coarse: Optional[Sequence[int]] = None,
    progress: Optional[Progress] = None,
) -> StyleResult:
    """Paints ``content`` in the style of ``style`` (one image, or a list whose costs are
    blended by ``style_blend``), as ``facestyle style`` does.

    :param size: long side of the result in pixels.
    :param method: ``"fast"`` (L-BFGS from the content, beta 1e4, 40 evaluations at 1/2 size
        and half as many at each level below down to 64 px, then 28 at full size) or
        ``"gatys"`` (the method as published: from noise, beta 1e3, 300 Adam steps of lr 5);
        the options below override the preset.
    :param iterations: iterations at full size (L-BFGS: evaluations of J).
    :param alpha: content weight. :param beta: style weight.
    :param tv_weight: total-variation weight.
    :param luma_weight: weight of the light-dark texture the transfer adds (the fast
        preset's: 3e10; gatys: 0).
    :param optimizer: ``"adam"`` or ``"lbfgs"``. :param lr: its step.
    :param init: ``"noise"``, ``"content"`` or ``"blend:R"``.
    :param content_layer: VGG19 layer of the content cost.
    :param style_layers: ``"conv1_1:0.2,conv2_1:0.2"`` or ``[("conv1_1", 0.2), ...]``.
    :param pooling: ``"max"`` or ``"avg"``.
    :param preserve_colors: transfer on luminance only and keep the content's colours.
    :param style_scale: size of the style images relative to ``size`` (larger: larger
        strokes and swirls).
    :param coarse: iterations at coarser levels, coarsest first, each half the side of the
        next (``[]``: one level; the fast preset's: ``[20, 40]`` at 256 px, ``[10, 20, 40]`` at
        512, ``[5, 10, 20, 40]`` at 1024).
    :param progress: ``progress(step, steps, loss)`` after every step; return ``False`` to
        stop and get the picture so far.
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    data, w, h, evals, ssim, ratio, meets, losses, seconds, stopped = _native.style_transfer(
        picture(content),
        [picture(s) for s in styles],
        size=size, method=method, iterations=iterations, alpha=alpha, beta=beta, tv_weight=tv_weight,
        luma_weight=luma_weight,
        optimizer=optimizer, lr=lr, init=init, seed=seed, content_layer=content_layer,
        style_layers=style_layers if style_layers is None or isinstance(style_layers, str) else list(style_layers),
        style_blend=None if style_blend is None else list(style_blend), pooling=pooling,
        preserve_colors=preserve_colors, style_scale=style_scale,
        coarse=None if coarse is None else list(coarse), progress=progress,
    )
    return StyleResult(to_array(data, w, h), ssim, ratio, meets, evals, seconds, stopped, losses)
