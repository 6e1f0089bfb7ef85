"""Every image input type, and bad images: each gives the same pixels or a clear exception."""

import struct
import zlib

import numpy as np
import pytest

import facestyle
from conftest import FORMATS, GUL_1, GUL_8, POWELL

PIL = pytest.importorskip("PIL.Image")


def png_bytes(width, height, bit_depth=8, colour_type=2, rows=None):
    """A PNG file written by hand (so the header can claim anything)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = zlib.compress(rows if rows is not None else b"")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_paths_bytes_arrays_and_pil_images_give_the_same_embedding(engine):
    reference = facestyle.embed(GUL_8)
    as_array = facestyle.load_image(GUL_8)
    assert as_array.shape == (250, 250, 3) and as_array.dtype == np.uint8
    for given in [GUL_8, str(GUL_8), GUL_8.read_bytes(), bytearray(GUL_8.read_bytes()),
                  memoryview(GUL_8.read_bytes()), as_array, PIL.open(GUL_8), PIL.open(GUL_8).convert("RGBA")]:
        assert np.array_equal(facestyle.embed(given), reference), type(given)


def test_grey_rgba_and_non_contiguous_arrays_are_accepted(engine):
    rgb = facestyle.load_image(POWELL)
    grey = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.uint8)
    assert facestyle.embed(grey).shape == (1, 128)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert np.array_equal(facestyle.embed(rgba), facestyle.embed(rgb))
    bgr = rgb[:, :, ::-1]  # what OpenCV's imread gives
    assert np.array_equal(facestyle.embed(bgr[:, :, ::-1]), facestyle.embed(rgb))
    pil_grey = PIL.fromarray(grey, "L")
    assert np.array_equal(facestyle.embed(pil_grey), facestyle.embed(grey))


def test_jpeg_decoded_by_pil_embeds_like_the_path(engine):
    ours = facestyle.embed(GUL_1)[0]
    theirs = facestyle.embed(PIL.open(GUL_1))[0]
    assert float(ours @ theirs) > 0.99


def test_16_bit_and_grey_files_are_read_as_8_bit_rgb(tmp_path):
    rgb = facestyle.load_image(POWELL)
    wide = PIL.fromarray(rgb[..., 1].astype(np.uint16) * 257)
    path16 = tmp_path / "powell16.png"
    wide.save(path16)
    seen = facestyle.load_image(path16)
    assert seen.shape == rgb.shape and seen.dtype == np.uint8
    assert np.abs(seen[..., 0].astype(int) - rgb[..., 1].astype(int)).max() <= 1
    grey = tmp_path / "grey.png"
    PIL.fromarray(rgb[..., 0], "L").save(grey)
    assert facestyle.load_image(grey).shape == rgb.shape
    assert facestyle.load_image(FORMATS / "powell_cmyk.jpg").shape[2] == 3


def test_exif_orientation_is_applied():
    upright = facestyle.load_image(FORMATS / "powell_exif6.jpg")
    raw = np.asarray(PIL.open(FORMATS / "powell_exif6.jpg").convert("RGB"))
    assert upright.shape == (raw.shape[1], raw.shape[0], 3)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"hello, not an image at all", "not an image"),
        (POWELL.read_bytes()[:4000], "truncated"),
        (png_bytes(100_000, 100_000), "above the limit"),
        (png_bytes(0, 10), "dimensions"),
    ],
    ids=["empty", "text", "truncated-jpeg", "huge-header", "zero-width"],
)
def test_bad_image_bytes_raise_value_error_naming_the_problem(data, message):
    with pytest.raises(ValueError, match=message):
        facestyle.embed(data)


def test_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(POWELL.read_bytes()[:2000])
    with pytest.raises(ValueError, match="broken.jpg"):
        facestyle.verify(bad, POWELL)
    with pytest.raises(FileNotFoundError):
        facestyle.embed(tmp_path / "missing.jpg")
    with pytest.raises(IsADirectoryError):
        facestyle.embed(tmp_path)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((64, 64, 3), np.uint16), "uint16"),
        (np.zeros((64, 64, 3), np.float32), "float32"),
        (np.zeros((64, 64, 2), np.uint8), "shape"),
        (np.zeros((64,), np.uint8), "shape"),
        (np.zeros((0, 64, 3), np.uint8), "no pixels"),
    ],
    ids=["16-bit", "float", "two-channels", "one-dimension", "empty"],
)
def test_bad_arrays_raise_value_error(array, message):
    with pytest.raises(ValueError, match=message):
        facestyle.embed(array)


def test_huge_arrays_are_refused_before_any_work():
    # A view that claims 70 megapixels without holding them: refused from its shape.
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (7000, 10000, 3))
    with pytest.raises(ValueError, match="above the limit"):
        facestyle.embed(huge)


def test_other_types_raise_type_error():
    with pytest.raises(TypeError, match="int"):
        facestyle.embed(42)
    with pytest.raises(TypeError, match="list of images"):
        facestyle.default_engine().embed_batch(GUL_1)
