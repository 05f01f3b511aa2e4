"""The build backend of the mfsql Python package: setuptools, plus CMake when the machine lacks it.

Everything is setuptools.build_meta. The one addition: the wheel is built by CMake (setup.py), so
when no CMake of at least the version CMakeLists.txt asks for is on PATH, the build asks for
PyPI's `cmake` package as an extra build requirement (pip installs it into the isolated build
environment). A machine with Debian's cmake installs nothing extra, and a build without
isolation (`--no-build-isolation`) uses the cmake on PATH as it is.
"""
import re
import shutil
import subprocess

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (every hook not defined below)

MIN_CMAKE = (3, 22)


def _cmake_is_usable():
    cmake = shutil.which("cmake")
    if not cmake:
        return False
    try:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    found = re.search(r"version (\d+)\.(\d+)", out)
    return bool(found) and tuple(int(x) for x in found.groups()) >= MIN_CMAKE


def _extra():
    return [] if _cmake_is_usable() else ["cmake>=%d.%d" % MIN_CMAKE]


def get_requires_for_build_wheel(config_settings=None):
    return _setuptools.get_requires_for_build_wheel(config_settings) + _extra()


def get_requires_for_build_editable(config_settings=None):
    return _setuptools.get_requires_for_build_editable(config_settings) + _extra()
