# Sourced by the build scripts: compiles through ccache when it is installed, so that CI's four
# builds (normal, pip, sanitizers, fuzz) on a machine kept between runs recompile only what
# changed. CMake takes the launcher from these variables at a build folder's first configure.
# MFSQL_CCACHE=0 turns it off. Paths under the tree being built are hashed relative to it (and the
# build folder's own path not at all), so another clone, or pip's copy of the tree, shares entries.
if [ "${MFSQL_CCACHE:-1}" != 0 ] && command -v ccache >/dev/null 2>&1; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR=1
fi
