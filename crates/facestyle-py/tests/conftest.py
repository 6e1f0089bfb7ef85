"""Shared fixtures of the Python package's tests: the repository's committed photos, the
facestyle command line for comparisons, and the models (fetched by the first engine)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster (binaries from $FACESTYLE_PG_BIN, as .ci/run installs
    them; run as nobody under root); returns a function making a database and its URL."""
    bin_dir = os.environ.get("FACESTYLE_PG_BIN")
    if not bin_dir or not os.path.isfile(os.path.join(bin_dir, "pg_ctl")):
        if os.environ.get("FACESTYLE_REQUIRE_POSTGRES") == "1":
            pytest.fail("FACESTYLE_REQUIRE_POSTGRES=1 but $FACESTYLE_PG_BIN has no pg_ctl")
        print("SKIP: no PostgreSQL binaries ($FACESTYLE_PG_BIN) for the PostgreSQL gallery test", file=sys.stderr)
        pytest.skip("no PostgreSQL binaries ($FACESTYLE_PG_BIN)")
    root = tempfile.mkdtemp(prefix="facestyle-pg-")
    as_nobody = {}
    if os.geteuid() == 0:
        os.chown(root, 65534, 65534)
        as_nobody = {"user": 65534, "group": 65534}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(root, "data")

    def run(*args):
        subprocess.run([os.path.join(bin_dir, args[0]), *args[1:]], check=True, capture_output=True, cwd=root,
                       **as_nobody)

    run("initdb", "-D", data, "-U", "facestyle", "--auth=trust", "-E", "UTF8")
    run("pg_ctl", "-D", data, "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
        "-l", os.path.join(root, "log"), "-w", "start")
    made = []

    def database(name):
        if name not in made:
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "facestyle", name)
            made.append(name)
        return f"postgres://facestyle@127.0.0.1:{port}/{name}"

    yield database
    run("pg_ctl", "-D", data, "-m", "immediate", "stop")
    shutil.rmtree(root, ignore_errors=True)
