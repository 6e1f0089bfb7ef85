"""facestyle's stand-in for setuptools' PEP 517 backend while pip downloads a pinned sdist.

`pip download` prepares the metadata of every sdist it fetches, which normally runs the
archive's own build backend (its setup.py) after installing its build dependencies. facestyle
only needs the archive, so pip runs with --no-build-isolation and --use-pep517 and this
directory first on PYTHONPATH: the backend pip then imports for a setup.py project
(setuptools.build_meta:__legacy__, or setuptools.build_meta) is this one, which copies the
archive's static PKG-INFO as the metadata. Nothing of the archive is executed and nothing
else is downloaded; pip has checked the archive's sha256 (--require-hashes) before unpacking it.
"""

import os
import types


def _pkg_info():
    with open("PKG-INFO", encoding="utf-8") as f:
        return f.read()


def _field(text, key):
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == key:
            return value.strip()
    raise RuntimeError("PKG-INFO has no %s field" % key)


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    text = _pkg_info()
    name, version = _field(text, "name"), _field(text, "version")
    dist_info = "%s-%s.dist-info" % (name.replace("-", "_"), version)
    os.makedirs(os.path.join(metadata_directory, dist_info))
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(text)
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("facestyle only downloads this archive; it builds nothing")


__legacy__ = types.SimpleNamespace(
    get_requires_for_build_wheel=get_requires_for_build_wheel,
    prepare_metadata_for_build_wheel=prepare_metadata_for_build_wheel,
    build_wheel=build_wheel,
)
