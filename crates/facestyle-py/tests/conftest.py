"""Shared fixtures of the Python package's tests: the repository's committed photos, the
facestyle command line for comparisons, and the models (fetched by the first engine)."""

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PHOTOS = ROOT / "crates" / "facestyle-face" / "tests" / "fixtures" / "photos"
FORMATS = ROOT / "crates" / "facestyle-face" / "tests" / "fixtures" / "formats"
CROPS = ROOT / "crates" / "facestyle-face" / "tests" / "fixtures" / "crops"
STYLE_PICTURE = ROOT / "docs" / "style" / "tubingen_x_starry_night.jpg"

GUL_1 = PHOTOS / "Abdullah_Gul_0001.jpg"
GUL_8 = PHOTOS / "Abdullah_Gul_0008.png"  # three faces, Gul's the largest
POWELL = PHOTOS / "Colin_Powell_0001.jpg"
BUSH = PHOTOS / "George_W_Bush_0001.jpg"


def cli_path():
    """The facestyle binary: $FACESTYLE_BIN, else the release build of the target dir."""
    given = os.environ.get("FACESTYLE_BIN")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    built = target / "release" / "facestyle"
    if built.is_file():
        return built
    found = shutil.which("facestyle")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def cli():
    path = cli_path()
    if path is None or not path.is_file():
        if os.environ.get("FACESTYLE_REQUIRE_CLI") == "1":
            pytest.fail("FACESTYLE_REQUIRE_CLI=1 but no facestyle binary (set FACESTYLE_BIN)")
        print("SKIP: no facestyle binary for the CLI comparisons (set FACESTYLE_BIN)", file=sys.stderr)
        pytest.skip("no facestyle binary (set FACESTYLE_BIN or build it with cargo build --release)")
    return path


@pytest.fixture(scope="session")
def engine():
    import facestyle

    return facestyle.default_engine()
