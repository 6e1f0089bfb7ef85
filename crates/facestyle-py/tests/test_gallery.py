"""Galleries: enrol from one photo, identify with "unknown", list, forget; all-or-nothing."""

import sqlite3

import pytest

import facestyle
from conftest import BUSH, GUL_1, GUL_8, POWELL


@pytest.fixture
def gallery(tmp_path, engine):
    return facestyle.Gallery(tmp_path / "people.db", engine)


def test_one_photo_enrols_a_person_who_is_then_recognised(gallery):
    done = gallery.enroll("Abdullah Gul", [GUL_1])
    assert (done.name, done.added, done.already_present, done.embeddings) == ("Abdullah Gul", 1, 0, 1)
    assert done.fallbacks == (None,)
    gallery.enroll("Colin Powell", POWELL)  # a single image is taken as a list of one
    faces = gallery.identify(GUL_8, top=2)
    assert len(faces) == 3
    assert faces[0].name == "Abdullah Gul" and faces[0].known
    assert faces[0].distance <= gallery.engine.threshold
    assert [c.name for c in faces[0].candidates] == ["Abdullah Gul", "Colin Powell"]
    assert all(f.name == facestyle.UNKNOWN and not f.known for f in faces[1:])
    assert [f.name for f in gallery.identify(BUSH)] == ["unknown"]


def test_people_forget_len_and_contains(gallery):
    gallery.enroll("Colin Powell", [POWELL])
    gallery.enroll("Abdullah Gul", [GUL_1, GUL_8])
    people = gallery.people()
    assert [(p.name, p.embeddings) for p in people] == [("Abdullah Gul", 2), ("Colin Powell", 1)]
    assert people[0].created_at[:2] == "20"
    assert len(gallery) == 2 and "Colin Powell" in gallery and "Nobody" not in gallery
    assert gallery.forget("Colin Powell") is True
    assert gallery.forget("Colin Powell") is False
    assert [f.name for f in gallery.identify(POWELL)] == ["unknown"]


def test_enrolling_again_adds_nothing(gallery):
    gallery.enroll("Abdullah Gul", [GUL_1])
    again = gallery.enroll("Abdullah Gul", [GUL_1.read_bytes()])
    assert (again.added, again.already_present, again.embeddings) == (0, 1, 1)


def test_a_failed_enrolment_changes_nothing(gallery, tmp_path):
    gallery.enroll("Colin Powell", [POWELL])
    before = gallery.people()
    blank = bytes(3 * 64 * 64)
    with pytest.raises(facestyle.NoFaceError):
        gallery.enroll("Abdullah Gul", [GUL_1, facestyle.load_image(GUL_1)[:40, :40]])
    with pytest.raises(ValueError, match="name"):
        gallery.enroll("unknown", [GUL_1])
    with pytest.raises(ValueError, match="name"):
        gallery.enroll("   ", [GUL_1])
    with pytest.raises(ValueError):
        gallery.enroll("Abdullah Gul", [blank])
    with pytest.raises(ValueError, match="no picture"):
        gallery.enroll("Abdullah Gul", [])
    assert gallery.people() == before


def test_opening_checks_the_file(tmp_path, engine):
    with pytest.raises(facestyle.GalleryError, match="does not exist"):
        facestyle.Gallery(tmp_path / "none.db", engine, create=False)
    with pytest.raises(facestyle.GalleryError, match="cannot connect"):
        facestyle.Gallery("postgres://facestyle:secret@127.0.0.1:1/faces", engine)
    other = tmp_path / "other.db"
    facestyle.Gallery(other, engine).enroll("Colin Powell", [POWELL])
    with sqlite3.connect(other) as db:
        db.execute("UPDATE meta SET value = 'another-model' WHERE key = 'model_id'")
    with pytest.raises(facestyle.GalleryError, match="another-model"):
        facestyle.Gallery(other, engine)
    with pytest.raises(ValueError, match="top"):
        facestyle.Gallery(tmp_path / "p.db", engine).identify(POWELL, top=0)


def test_identify_batch_reads_the_gallery_once_and_answers_each_image(gallery):
    gallery.enroll("Colin Powell", [POWELL])
    answers = gallery.identify_batch([POWELL, BUSH, GUL_8])
    assert [[f.name for f in faces] for faces in answers] == [["Colin Powell"], ["unknown"], ["unknown"] * 3]


def test_a_postgresql_gallery_works_like_a_file_and_is_shared_with_the_cli(postgres, engine, cli):
    url = postgres("faces")
    g = facestyle.Gallery(url, engine)
    assert g.location == url
    g.enroll("Abdullah Gul", [GUL_1])
    g.enroll("Colin Powell", [POWELL])
    assert [f.name for f in g.identify(GUL_8)] == ["Abdullah Gul", "unknown", "unknown"]
    assert [p.name for p in g.people()] == ["Abdullah Gul", "Colin Powell"]
    import json
    import subprocess
    out = subprocess.run([str(cli), "--json", "face", "people", "--gallery", url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert [p["name"] for p in json.loads(out.stdout)["people"]] == ["Abdullah Gul", "Colin Powell"]
    assert g.forget("Colin Powell") and len(g) == 1
    with pytest.raises(facestyle.GalleryError, match="holds no facestyle gallery"):
        facestyle.Gallery(postgres("empty"), engine, create=False)


def test_search_approximate_gives_the_exact_answers_and_a_bad_search_is_refused(tmp_path, engine, capfd):
    path = tmp_path / "people.db"
    exact = facestyle.Gallery(path, engine, search="exact")
    exact.enroll("Abdullah Gul", [GUL_1])
    exact.enroll("Colin Powell", POWELL)
    approximate = facestyle.Gallery(path, engine, search="approximate")
    want = [(f.name, f.distance, [c.name for c in f.candidates]) for f in exact.identify(GUL_8, top=2)]
    got = [(f.name, f.distance, [c.name for c in f.candidates]) for f in approximate.identify(GUL_8, top=2)]
    assert got == want and want[0][0] == "Abdullah Gul"
    assert "building the approximate index: 2/2" in capfd.readouterr().err
    # The index is kept beside the gallery file.
    assert any(p.name.endswith(".hnsw") for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match="search: 'fast' is not one of auto, exact, approximate"):
        facestyle.Gallery(path, engine, search="fast")
