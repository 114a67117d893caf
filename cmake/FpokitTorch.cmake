# Imports LibTorch from a pip `torch` wheel as the target fpokit::torch.
#
# Why not find_package(Torch): the wheel's TorchConfig.cmake insists on finding a CUDA toolkit
# whenever the wheel was built with CUDA, and then links every CUDA library even for a CPU-only
# program. We ask the wheel's Python for its paths and ABI instead, which works the same on a
# CPU-only developer machine and on an offline GPU host.
#
# Inputs:  FPOKIT_PYTHON (the venv's python; default: python3 on PATH)
#          FPOKIT_CUDA   (AUTO|ON|OFF; AUTO = ON when the wheel has CUDA and a GPU is visible)
# Outputs: target fpokit::torch, FPOKIT_TORCH_VERSION, FPOKIT_WITH_CUDA

set(FPOKIT_PYTHON "" CACHE FILEPATH "Python interpreter whose torch wheel provides LibTorch")
set(FPOKIT_CUDA "AUTO" CACHE STRING "Link LibTorch's CUDA libraries: AUTO, ON or OFF")

if(NOT FPOKIT_PYTHON)
  find_program(FPOKIT_PYTHON_FOUND NAMES python3 python REQUIRED)
  set(FPOKIT_PYTHON "${FPOKIT_PYTHON_FOUND}" CACHE FILEPATH "" FORCE)
endif()

execute_process(
  COMMAND "${FPOKIT_PYTHON}" -c
    "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__.split('+')[0]); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(torch.version.cuda or ''); print(int(torch.cuda.is_available()))"
  OUTPUT_VARIABLE _fpokit_torch_out
  RESULT_VARIABLE _fpokit_torch_rc
  ERROR_VARIABLE _fpokit_torch_err
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _fpokit_torch_rc EQUAL 0)
  message(FATAL_ERROR "fpokit: cannot import torch with ${FPOKIT_PYTHON}: ${_fpokit_torch_err}\n"
                      "Run scripts/setup.sh, or pass -DFPOKIT_PYTHON=/path/to/venv/bin/python.")
endif()
string(REPLACE "\n" ";" _fpokit_torch_out "${_fpokit_torch_out}")
list(GET _fpokit_torch_out 0 FPOKIT_TORCH_DIR)
list(GET _fpokit_torch_out 1 FPOKIT_TORCH_VERSION)
list(GET _fpokit_torch_out 2 _fpokit_cxx11_abi)
list(GET _fpokit_torch_out 3 _fpokit_torch_cuda)
list(GET _fpokit_torch_out 4 _fpokit_gpu_visible)

if(FPOKIT_CUDA STREQUAL "AUTO")
  if(_fpokit_torch_cuda AND _fpokit_gpu_visible)
    set(FPOKIT_WITH_CUDA ON)
  else()
    set(FPOKIT_WITH_CUDA OFF)
  endif()
else()
  set(FPOKIT_WITH_CUDA ${FPOKIT_CUDA})
endif()

set(_lib "${FPOKIT_TORCH_DIR}/lib")
add_library(fpokit_torch INTERFACE)
add_library(fpokit::torch ALIAS fpokit_torch)
target_include_directories(fpokit_torch SYSTEM INTERFACE
  "${FPOKIT_TORCH_DIR}/include" "${FPOKIT_TORCH_DIR}/include/torch/csrc/api/include")
target_compile_definitions(fpokit_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=${_fpokit_cxx11_abi})
set(_torch_libs "${_lib}/libtorch.so" "${_lib}/libtorch_cpu.so" "${_lib}/libc10.so")
if(FPOKIT_WITH_CUDA)
  if(NOT _fpokit_torch_cuda)
    message(FATAL_ERROR "fpokit: FPOKIT_CUDA=ON but the torch wheel at ${FPOKIT_TORCH_DIR} has no CUDA")
  endif()
  # --no-as-needed: nothing references libtorch_cuda's symbols directly, but it must be loaded so
  # that the CUDA backend registers its kernels.
  list(APPEND _torch_libs "-Wl,--no-as-needed" "${_lib}/libtorch_cuda.so" "${_lib}/libc10_cuda.so" "-Wl,--as-needed")
  target_compile_definitions(fpokit_torch INTERFACE FPOKIT_WITH_CUDA=1)
endif()
target_link_libraries(fpokit_torch INTERFACE ${_torch_libs})
# The wheel's libraries find their siblings (and the nvidia-* wheels) through their own RPATH.
set(CMAKE_BUILD_RPATH "${CMAKE_BUILD_RPATH};${_lib}")
set(CMAKE_INSTALL_RPATH "${CMAKE_INSTALL_RPATH};${_lib}")
message(STATUS "fpokit: LibTorch ${FPOKIT_TORCH_VERSION} from ${FPOKIT_TORCH_DIR} (CUDA: ${FPOKIT_WITH_CUDA})")

# at::parallel_for is a header template that becomes `#pragma omp parallel` (the wheel's LibTorch
# is built with AT_PARALLEL_OPENMP): compiled without -fopenmp it silently runs on one thread.
# fpokit_openmp_sources(target file...) compiles those files of `target` with -fopenmp and links
# the wheel's own libgomp, so that there is one OpenMP runtime in the process and
# torch::set_num_threads sets its thread count. GCC only: clang's -fopenmp emits calls into LLVM's
# runtime (__kmpc_*), which libgomp lacks, so under clang (the sanitizer builds) the loops stay
# serial, which changes their speed and not their results.
file(GLOB FPOKIT_TORCH_GOMP "${_lib}/libgomp*.so*")
function(fpokit_openmp_sources target)
  if(NOT FPOKIT_TORCH_GOMP OR NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    message(STATUS "fpokit: ${target}'s parallel loops run on one thread (no GCC with the wheel's libgomp)")
    return()
  endif()
  list(GET FPOKIT_TORCH_GOMP 0 gomp)
  # No precompiled header there: it was built without -fopenmp (_OPENMP undefined).
  set_source_files_properties(${ARGN} TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS -fopenmp
                              SKIP_PRECOMPILE_HEADERS ON)
  target_link_libraries(${target} PUBLIC "${gomp}")
endfunction()
