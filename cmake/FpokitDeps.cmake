# Third-party libraries from Debian 12 packages (see scripts/setup.sh). Each is found through
# CMake config files or pkg-config; a prefix given in CMAKE_PREFIX_PATH (an unpacked .deb tree on
# an offline GPU host) works the same as the system one.
find_package(PkgConfig REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)

# PCRE2 (8-bit, UTF): the pre-tokenizer regexes of tokenizer.json need lookahead and \p{..}.
find_path(PCRE2_INCLUDE_DIR pcre2.h REQUIRED)
find_library(PCRE2_LIBRARY pcre2-8 REQUIRED)
add_library(fpokit_pcre2 INTERFACE)
target_include_directories(fpokit_pcre2 SYSTEM INTERFACE ${PCRE2_INCLUDE_DIR})
target_link_libraries(fpokit_pcre2 INTERFACE ${PCRE2_LIBRARY})
target_compile_definitions(fpokit_pcre2 INTERFACE PCRE2_CODE_UNIT_WIDTH=8)

find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h REQUIRED)
find_library(SENTENCEPIECE_LIBRARY sentencepiece REQUIRED)
add_library(fpokit_sentencepiece INTERFACE)
target_include_directories(fpokit_sentencepiece SYSTEM INTERFACE ${SENTENCEPIECE_INCLUDE_DIR})
target_link_libraries(fpokit_sentencepiece INTERFACE ${SENTENCEPIECE_LIBRARY})

include(CheckModuleIncludes)

# fpokit_add_module(NAME DEPENDS dep...): a library target fpokit_NAME (alias fpokit::NAME) from
# NAME/src/**.cpp with public headers in NAME/include. A module without sources yet is an
# INTERFACE library, so that the dependency chain tools -> analysis -> fpo -> sae -> lm -> core
# holds from the start. The module's #includes of fpokit headers are checked against the DAG:
# only its own and those of the fpokit modules it depends on, directly or not (a configure-time
# error here, and the ctest test `module_dag` for includes added later).
function(fpokit_add_module name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;PRIVATE_DEPENDS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp")
  if(sources)
    add_library(fpokit_${name} STATIC ${sources})
    target_include_directories(fpokit_${name} PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/include")
    target_link_libraries(fpokit_${name} PUBLIC ${ARG_DEPENDS} PRIVATE ${ARG_PRIVATE_DEPENDS})
  else()
    add_library(fpokit_${name} INTERFACE)
    target_include_directories(fpokit_${name} INTERFACE "${CMAKE_CURRENT_SOURCE_DIR}/include")
    target_link_libraries(fpokit_${name} INTERFACE ${ARG_DEPENDS})
  endif()
  add_library(fpokit::${name} ALIAS fpokit_${name})

  # The transitive closure of this module's fpokit dependencies.
  set(closure "")
  foreach(dep IN LISTS ARG_DEPENDS)
    if(dep MATCHES "^fpokit::(core|lm|sae|fpo|analysis)$")
      set(d "${CMAKE_MATCH_1}")
      list(APPEND closure ${d} ${FPOKIT_MODULE_CLOSURE_${d}})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set(FPOKIT_MODULE_CLOSURE_${name} "${closure}" CACHE INTERNAL "fpokit modules that ${name} may include")
  string(REPLACE ";" "," closure_csv "${closure}")
  set_property(GLOBAL APPEND PROPERTY FPOKIT_MODULE_DEPS "${name}=${closure_csv}")
  fpokit_check_module_includes(${name} "${CMAKE_CURRENT_SOURCE_DIR}" "${name};${closure}" problems)
  if(problems)
    string(REPLACE ";" "\n  " text "${problems}")
    message(FATAL_ERROR "module DAG violated:\n  ${text}")
  endif()
endfunction()
