# Imports Apache Arrow's C++ library (libarrow, libparquet) from the pip `pyarrow` wheel in the
# project venv, as the target fpokit::arrow_parquet, for core's Parquet dataset reader
# (core/src/dataset/parquet_record_reader.cpp).
#
# Why the wheel: it ships the headers (pyarrow/include) and the shared libraries of the same Arrow
# build, just as the torch wheel ships LibTorch, so one `pip install` (scripts/requirements.txt)
# serves a developer machine and an offline GPU host alike; Debian 12 packages no Arrow.
# The wheel has only versioned names (libarrow.so.2600), hence the globs, the libraries linked by
# full path and their directory in the build and install RPATH (no LD_LIBRARY_PATH needed).
#
# Inputs:  FPOKIT_PYTHON  (the venv's python; cmake/FpokitTorch.cmake sets it)
#          FPOKIT_PARQUET (AUTO|ON|OFF; AUTO = ON when that python imports pyarrow and its wheel
#                          has the headers and libraries; ON fails when it does not)
# Outputs: FPOKIT_WITH_PARQUET, and the GLOBAL target fpokit::arrow_parquet when it is ON
#          (global: core links it PRIVATE, and a static library's private link dependencies are
#          linked by every executable in the tree).

set(FPOKIT_PARQUET "AUTO" CACHE STRING "Read Parquet datasets with the venv's pyarrow wheel: AUTO, ON or OFF")
set_property(CACHE FPOKIT_PARQUET PROPERTY STRINGS AUTO ON OFF)

set(FPOKIT_WITH_PARQUET OFF)
set(_fpokit_parquet_missing "")
if(FPOKIT_PARQUET STREQUAL "OFF")
  set(_fpokit_parquet_missing "FPOKIT_PARQUET=OFF")
elseif(NOT FPOKIT_PARQUET MATCHES "^(AUTO|ON)$")
  message(FATAL_ERROR "fpokit: FPOKIT_PARQUET is '${FPOKIT_PARQUET}'; use AUTO, ON or OFF")
elseif(NOT FPOKIT_PYTHON)
  set(_fpokit_parquet_missing "no FPOKIT_PYTHON (include FpokitTorch first)")
else()
  execute_process(
    COMMAND "${FPOKIT_PYTHON}" -c
      "import os, pyarrow; print(pyarrow.get_include()); print(os.path.dirname(pyarrow.__file__)); print(pyarrow.__version__)"
    OUTPUT_VARIABLE _fpokit_pyarrow_out
    RESULT_VARIABLE _fpokit_pyarrow_rc
    ERROR_QUIET
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _fpokit_pyarrow_rc EQUAL 0)
    set(_fpokit_parquet_missing "${FPOKIT_PYTHON} cannot import pyarrow")
  else()
    string(REPLACE "\n" ";" _fpokit_pyarrow_out "${_fpokit_pyarrow_out}")
    list(GET _fpokit_pyarrow_out 0 FPOKIT_ARROW_INCLUDE_DIR)
    list(GET _fpokit_pyarrow_out 1 FPOKIT_ARROW_LIBRARY_DIR)
    list(GET _fpokit_pyarrow_out 2 FPOKIT_ARROW_VERSION)
    # The unversioned name where a build has one, else the shortest versioned one: libarrow.so.2600
    # (not libarrow_python.so, which the pattern excludes, nor a longer libarrow.so.2600.1.0).
    foreach(_lib arrow parquet)
      file(GLOB _candidates "${FPOKIT_ARROW_LIBRARY_DIR}/lib${_lib}.so" "${FPOKIT_ARROW_LIBRARY_DIR}/lib${_lib}.so.*")
      set(_fpokit_lib_${_lib} "")
      foreach(_candidate IN LISTS _candidates)
        string(LENGTH "${_candidate}" _length)
        if(NOT _fpokit_lib_${_lib} OR _length LESS _shortest)
          set(_fpokit_lib_${_lib} "${_candidate}")
          set(_shortest ${_length})
        endif()
      endforeach()
      if(NOT _fpokit_lib_${_lib})
        set(_fpokit_parquet_missing "pyarrow ${FPOKIT_ARROW_VERSION} has no lib${_lib}.so* in ${FPOKIT_ARROW_LIBRARY_DIR}")
      endif()
    endforeach()
    if(NOT EXISTS "${FPOKIT_ARROW_INCLUDE_DIR}/parquet/arrow/reader.h")
      set(_fpokit_parquet_missing "pyarrow ${FPOKIT_ARROW_VERSION} has no C++ headers in ${FPOKIT_ARROW_INCLUDE_DIR}")
    endif()
    # The wheel's libraries use the C++11 std::string ABI (std::__cxx11); so must fpokit, whose ABI
    # LibTorch decides (FpokitTorch.cmake).
    if(DEFINED _fpokit_cxx11_abi AND NOT _fpokit_cxx11_abi)
      set(_fpokit_parquet_missing "LibTorch uses the pre-C++11 string ABI, pyarrow's libraries the C++11 one")
    endif()
  endif()
endif()

if(_fpokit_parquet_missing)
  if(FPOKIT_PARQUET STREQUAL "ON")
    message(FATAL_ERROR "fpokit: FPOKIT_PARQUET=ON but ${_fpokit_parquet_missing}.\n"
                        "Install pyarrow into the venv (scripts/setup.sh; its version is in scripts/requirements.txt), "
                        "or configure with -DFPOKIT_PARQUET=AUTO or OFF.")
  endif()
  if(FPOKIT_PARQUET STREQUAL "OFF")
    message(STATUS "fpokit: Parquet datasets off (FPOKIT_PARQUET=OFF)")
  else()
    message(STATUS "fpokit: Parquet datasets off (${_fpokit_parquet_missing}); "
                   "install pyarrow into the venv (scripts/setup.sh) and reconfigure to read them")
  endif()
  return()
endif()

set(FPOKIT_WITH_PARQUET ON)
if(NOT TARGET fpokit::arrow_parquet)
  foreach(_lib arrow parquet)
    add_library(fpokit_${_lib}_imported SHARED IMPORTED GLOBAL)
    set_target_properties(fpokit_${_lib}_imported PROPERTIES IMPORTED_LOCATION "${_fpokit_lib_${_lib}}")
  endforeach()
  add_library(fpokit_arrow_parquet INTERFACE IMPORTED GLOBAL)
  add_library(fpokit::arrow_parquet ALIAS fpokit_arrow_parquet)
  # SYSTEM: Arrow's headers are not ours to keep free of warnings.
  target_include_directories(fpokit_arrow_parquet SYSTEM INTERFACE "${FPOKIT_ARROW_INCLUDE_DIR}")
  target_link_libraries(fpokit_arrow_parquet INTERFACE fpokit_parquet_imported fpokit_arrow_imported)
  # The RPATH through the link options as well as the variables: the variables are directory-scoped
  # (this file is included from core/), the options reach every executable that links core.
  target_link_options(fpokit_arrow_parquet INTERFACE "LINKER:-rpath,${FPOKIT_ARROW_LIBRARY_DIR}")
endif()
set(CMAKE_BUILD_RPATH "${CMAKE_BUILD_RPATH};${FPOKIT_ARROW_LIBRARY_DIR}")
set(CMAKE_INSTALL_RPATH "${CMAKE_INSTALL_RPATH};${FPOKIT_ARROW_LIBRARY_DIR}")
message(STATUS "fpokit: Parquet datasets on (pyarrow ${FPOKIT_ARROW_VERSION}: ${_fpokit_lib_arrow}, ${_fpokit_lib_parquet})")
