"""The Python package and the facestyle command line give the same answers on the same
photos: embeddings bit for bit, verification distances, galleries readable by both."""

import json
import subprocess

import numpy as np
import pytest

import facestyle
from conftest import GUL_1, GUL_8, PHOTOS, POWELL, STYLE_PICTURE


def run(cli, *args):
    done = subprocess.run([str(cli), "--json", *map(str, args)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_embeddings_equal_the_cli_bit_for_bit(cli, tmp_path, engine):
    out = tmp_path / "faces.jsonl"
    run(cli, "face", "embed", PHOTOS, "--out", out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 6
    for line in lines:
        ours = facestyle.embed(line["image"])[line["face"]]
        theirs = np.array(line["embedding"], dtype=np.float32)
        assert np.array_equal(ours, theirs), line["image"]
        assert line["model"] == engine.model_id and line["model_version"] == engine.model_version


def test_verification_equals_the_cli(cli):
    for a, b in [(GUL_1, GUL_8), (GUL_1, POWELL)]:
        theirs = json.loads(run(cli, "face", "verify", a, b))
        ours = facestyle.verify(a, b)
        assert (ours.same, ours.metric) == (theirs["same"], theirs["metric"])
        assert np.float32(ours.distance) == np.float32(theirs["distance"])
        assert np.float32(ours.threshold) == np.float32(theirs["threshold"])


def test_galleries_are_shared_with_the_cli(cli, tmp_path, engine):
    path = tmp_path / "people.db"
    facestyle.Gallery(path, engine).enroll("Abdullah Gul", [GUL_1])
    run(cli, "face", "enroll", "--gallery", path, "--name", "Colin Powell", POWELL)
    people = json.loads(run(cli, "face", "people", "--gallery", path))["people"]
    assert [p["name"] for p in people] == ["Abdullah Gul", "Colin Powell"]
    theirs = json.loads(run(cli, "face", "identify", "--gallery", path, GUL_8))["results"][0]["faces"]
    ours = facestyle.Gallery(path, engine, create=False).identify(GUL_8)
    assert [f["name"] for f in theirs] == [f.name for f in ours]
    assert np.float32(theirs[0]["distance"]) == np.float32(ours[0].distance)


def test_style_transfer_equals_the_cli(cli, tmp_path):
    out = tmp_path / "styled.png"
    report = json.loads(run(cli, "style", POWELL, STYLE_PICTURE, "-o", out, "--size", "48",
                            "--iterations", "3", "--coarse", "none"))
    ours = facestyle.style_transfer(POWELL, STYLE_PICTURE, size=48, iterations=3, coarse=[])
    assert np.array_equal(facestyle.load_image(out), ours.image)
    assert ours.ssim == pytest.approx(report["ssim"], abs=1e-9)
    assert ours.style_ratio == pytest.approx(report["style_ratio"], rel=1e-6)
