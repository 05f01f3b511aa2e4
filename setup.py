"""The CMake build step of the `mfsql` Python package (metadata: pyproject.toml).

`pip install .` / `pip wheel .` run CMake on this checkout (target `metaflow` only, Release,
without the tests) in build-python/, and put build/.../metaflow.so inside the package as
mfsql/metaflow.so. The wheel holds no Python extension module, so it is tagged py3-none-<platform>:
one wheel serves every Python 3 on that platform.

Environment:
  MFSQL_PREBUILT=/path/to/metaflow.so   use this built module instead of running CMake (CI reuses
                                        its own build/ this way)
  MFSQL_CMAKE_ARGS="-DFOO=bar ..."      extra arguments for the CMake configure step
  CMAKE_BUILD_PARALLEL_LEVEL=N          parallel build jobs (default: the number of CPUs)
"""
import os
import re
import shlex
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 has its own; older ones use the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = "metaflow.so"  # SQLite derives the entry point sqlite3_metaflow_init from this name


def project_version():
    with open(os.path.join(HERE, "CMakeLists.txt"), encoding="utf-8") as f:
        found = re.search(r"project\(\s*mfsql\s+VERSION\s+([0-9.]+)", f.read())
    if not found:
        raise RuntimeError("CMakeLists.txt has no project(mfsql VERSION x.y.z)")
    return found.group(1)


class BuildWithCMake(build_py):
    """build_py, then the extension: built by CMake (or MFSQL_PREBUILT) into the package."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "mfsql", MODULE)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        prebuilt = os.environ.get("MFSQL_PREBUILT")
        if prebuilt:
            if not os.path.isfile(prebuilt):
                raise RuntimeError(f"MFSQL_PREBUILT={prebuilt} is not a file")
            built = prebuilt
            self.announce(f"mfsql: using the prebuilt module {prebuilt}", level=2)
        else:
            built = self.cmake_build()
        shutil.copyfile(built, target)
        os.chmod(target, 0o755)

    def cmake_build(self):
        cmake = shutil.which("cmake")
        if not cmake:
            raise RuntimeError("mfsql is built with CMake (>= 3.22), and no cmake is on PATH. "
                               "On Debian/Ubuntu: bash scripts/install-deps.sh")
        build_temp = self.get_finalized_command("build").build_temp
        build_dir = os.path.abspath(os.path.join(build_temp, "cmake"))
        configure = [cmake, "-S", HERE, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF"]
        configure += shlex.split(os.environ.get("MFSQL_CMAKE_ARGS", ""))
        env = dict(os.environ)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(configure, check=True, env=env)
        subprocess.run([cmake, "--build", build_dir, "--target", "metaflow"], check=True, env=env)
        return os.path.join(build_dir, MODULE)


class NativeDistribution(Distribution):
    """The package carries a native file: it installs into platlib and its wheel is not pure."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """A platform wheel (it carries a native .so) that any Python 3 can use: py3-none-<platform>."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    version=project_version(),
    distclass=NativeDistribution,
    cmdclass={"build_py": BuildWithCMake, "bdist_wheel": PlatformWheel},
    # Not ./build: that is where the CMake build of a checkout lives (scripts/build.sh).
    options={"build": {"build_base": "build-python"}},
    zip_safe=False,  # SQLite loads metaflow.so from a real file
)
