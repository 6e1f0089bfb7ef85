"""Style transfer through the Python API: options, progress, stopping, bad options."""

import numpy as np
import pytest

import facestyle
from conftest import POWELL, STYLE_PICTURE

QUICK = dict(size=48, iterations=3, coarse=[])


def test_a_small_transfer_returns_the_picture_and_its_quality():
    seen = []
    r = facestyle.style_transfer(POWELL, STYLE_PICTURE, progress=lambda *a: seen.append(a), **QUICK)
    assert r.image.shape == (48, 48, 3) and r.image.dtype == np.uint8
    assert [s for s, _, _ in seen] == [1, 2, 3] and all(n == 3 for _, n, _ in seen)
    assert len(r.losses) == 3 and r.losses[-1] <= r.losses[0]
    assert 0 < r.ssim <= 1 and r.style_ratio > 0 and r.evaluations == pytest.approx(3)
    assert r.meets_bar == (r.ssim >= 0.3 and r.style_ratio <= 0.05)
    assert not r.stopped


def test_presets_and_options_change_the_run():
    gatys = facestyle.style_transfer(POWELL, STYLE_PICTURE, method="gatys", size=48, iterations=2)
    assert len(gatys.losses) == 2
    # The default preset runs a coarse level first: more steps than its full-size iterations.
    fast = facestyle.style_transfer(POWELL, STYLE_PICTURE, size=48, iterations=2, coarse=[2])
    assert len(fast.losses) == 4
    two = facestyle.style_transfer(POWELL, [STYLE_PICTURE, POWELL], style_blend=[0.7, 0.3],
                                   preserve_colors=True, optimizer="adam", lr=2.0, init="blend:0.5",
                                   style_layers=[("conv1_1", 1.0), ("conv2_1", 0.5)], pooling="avg",
                                   tv_weight=1e-3, **QUICK)
    assert two.image.shape == (48, 48, 3)


def test_the_progress_callback_stops_the_run_or_raises():
    stopped = facestyle.style_transfer(POWELL, STYLE_PICTURE, progress=lambda step, n, loss: step < 2, **QUICK)
    assert stopped.stopped and len(stopped.losses) == 2 and stopped.image.shape == (48, 48, 3)

    def fail(step, n, loss):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        facestyle.style_transfer(POWELL, STYLE_PICTURE, progress=fail, **QUICK)
    with pytest.raises(TypeError, match="progress"):
        facestyle.style_transfer(POWELL, STYLE_PICTURE, progress=3, **QUICK)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(method="picasso"), "method"),
        (dict(beta=-1.0), "beta"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(lr=0.0), "lr"),
        (dict(size=0), "size"),
        (dict(size=5000), "size"),
        (dict(init="paint"), "init"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(pooling="min"), "pooling"),
        (dict(content_layer="conv9_1"), "content_layer"),
        (dict(style_layers="conv1_1:x"), "style_layers"),
        (dict(style_layers=[]), "style_layers"),
        (dict(style_blend=[1.0, 2.0]), "style_blend"),
        (dict(style_scale=0.0), "style_scale"),
    ],
)
def test_bad_options_raise_value_error_naming_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        facestyle.style_transfer(POWELL, STYLE_PICTURE, **{**QUICK, **options})


def test_a_picture_too_small_for_vgg_is_refused():
    tiny = np.zeros((4, 200, 3), np.uint8)
    with pytest.raises(ValueError, match="VGG19 needs"):
        facestyle.style_transfer(tiny, STYLE_PICTURE, **QUICK)


def test_results_save_and_convert(tmp_path):
    r = facestyle.style_transfer(POWELL, STYLE_PICTURE, **QUICK)
    pytest.importorskip("PIL")
    r.save(tmp_path / "out.png")
    assert np.array_equal(facestyle.load_image(tmp_path / "out.png"), r.image)
    assert r.to_pil().size == (48, 48)
