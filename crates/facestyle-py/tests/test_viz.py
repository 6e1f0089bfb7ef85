"""Top patches through the Python API."""

import numpy as np
import pytest

import facestyle
from conftest import PHOTOS, POWELL


def test_top_patches_return_a_grid_per_layer():
    seen = []
    out = facestyle.top_patches(PHOTOS, layers=["conv1_1", "conv2_1"], units=4, top=4, size=64, cell=16,
                                progress=lambda done, total: seen.append((done, total)))
    assert list(out.layers) == ["conv1_1", "conv2_1"]
    grid = out.layers["conv1_1"]
    assert grid.grid.dtype == np.uint8 and grid.grid.ndim == 3 and grid.grid.shape[2] == 3
    assert len(grid.units) == 4 and all(len(u["patches"]) == 4 for u in grid.units)
    assert grid.grid.std() > 0
    assert seen[-1] == (4, 4) and out.skipped == []


def test_files_limits_and_strip_layout():
    out = facestyle.top_patches([POWELL], layers=["conv1_1"], units=2, top=3, size=64, cell=8, layout="strip")
    assert out.layers["conv1_1"].grid.shape[2] == 3
    limited = facestyle.top_patches(PHOTOS, limit=2, layers=["conv1_1"], units=1, top=1, size=64, cell=8)
    patches = limited.layers["conv1_1"].units[0]["patches"]
    assert len(patches) == 1


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(layers=["conv9_9"]), ValueError, "conv9_9"),
        (dict(pick="best"), ValueError, "pick"),
        (dict(top=3), ValueError, "square"),
        (dict(units=0), ValueError, "units"),
        (dict(size=8), ValueError, "size"),
        (dict(model="alexnet"), ValueError, "model"),
    ],
)
def test_bad_settings_raise(options, error, message):
    with pytest.raises(error, match=message):
        facestyle.top_patches(PHOTOS, **{"size": 64, **options})


def test_missing_folders_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        facestyle.top_patches(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no image"):
        facestyle.top_patches(tmp_path)


def test_sface_units_look_at_aligned_faces():
    out = facestyle.top_patches(PHOTOS, model="sface", layers=["conv1", "pw2"], units=2, top=1, cell=16)
    assert list(out.layers) == ["conv1", "pw2"]
    assert all(len(u["patches"]) == 1 for u in out.layers["pw2"].units)
