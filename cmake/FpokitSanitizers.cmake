# Sanitizer and fuzzing builds (docs/reliability.md, 'Fuzzing and sanitizers').
#
# FPOKIT_SANITIZE=ON   every fpokit target (libraries, CLI, test suites) with AddressSanitizer and
#                      UndefinedBehaviorSanitizer; gcc or clang. scripts/sanitize.sh uses it (build-asan/).
# FPOKIT_FUZZ=ON       clang only: fpokit's own code with -fsanitize=fuzzer-no-link,address,undefined
#                      and the libFuzzer harnesses of tests/fuzz (fuzz_<reader>); scripts/fuzz.sh
#                      uses it (build-fuzz/).
# LibTorch, HDF5, SentencePiece, libzip and the other Debian libraries stay uninstrumented: ASan
# sees their heap through its malloc, but not their stack or globals.
# Included before the modules are added, so that the flags reach every fpokit target.

option(FPOKIT_SANITIZE "Build everything with -fsanitize=address,undefined" OFF)
option(FPOKIT_FUZZ "Build the libFuzzer harnesses of tests/fuzz (clang only)" OFF)

# UBSan stops at the first report (a fuzzer or a test must fail on it, not print and go on).
# vptr is left out as a precaution: it checks dynamic types through the type_info of objects that
# the uninstrumented, gcc-built LibTorch creates, which it cannot see.
set(_fpokit_ubsan -fsanitize=undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined)

if(FPOKIT_SANITIZE)
  add_compile_options(-fsanitize=address ${_fpokit_ubsan} -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=address ${_fpokit_ubsan})
  message(STATUS "fpokit: sanitizers on (address, undefined)")
endif()

if(FPOKIT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "fpokit: FPOKIT_FUZZ needs clang (libFuzzer); configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(FPOKIT_SANITIZE)
    message(FATAL_ERROR "fpokit: FPOKIT_FUZZ already builds with the sanitizers; leave FPOKIT_SANITIZE off")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address ${_fpokit_ubsan} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address ${_fpokit_ubsan})
  message(STATUS "fpokit: fuzzing build (libFuzzer, address, undefined)")
endif()
