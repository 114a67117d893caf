cmake_minimum_required(VERSION 3.22)  # policies for script mode (IN_LIST, empty list elements)
# Enforces the module DAG on #include lines: a file of module M may include fpokit headers only
# from M itself and from the modules M depends on (directly or not).
#
# Used in two ways:
#  - at configure time, fpokit_add_module() calls fpokit_check_module_includes() for each module;
#  - as the ctest test `module_dag` (cmake -P this file with -DFPOKIT_SOURCE_DIR=... and
#    -DFPOKIT_MODULE_DEPS="core=;lm=core;...") so that an include added after configuring fails
#    the suite.
# The allowed set is the transitive closure of the DEPENDS given to fpokit_add_module.

# fpokit_check_module_includes(MODULE DIR ALLOWED_LIST OUT_VAR): OUT_VAR gets one message line per
# offending include ("lm/src/x.cpp:12 includes fpokit/sae/y.h (lm may include only: core lm)").
function(fpokit_check_module_includes module dir allowed out_var)
  file(GLOB_RECURSE files "${dir}/include/*.h" "${dir}/src/*.h" "${dir}/src/*.cpp")
  set(problems "")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]fpokit/")
    foreach(line IN LISTS lines)
      string(REGEX MATCH "fpokit/([a-z_]+)/" _ "${line}")
      set(target_module "${CMAKE_MATCH_1}")
      if(NOT target_module IN_LIST allowed)
        get_filename_component(parent "${dir}/.." ABSOLUTE)
        file(RELATIVE_PATH rel "${parent}" "${f}")
        string(REGEX MATCH "fpokit/[a-zA-Z0-9_/.]+" header "${line}")
        list(APPEND problems "${rel} includes ${header} (${module} may include only: ${allowed})")
      endif()
    endforeach()
  endforeach()
  set(${out_var} "${problems}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND FPOKIT_SOURCE_DIR)
  # FPOKIT_MODULE_DEPS: "name=closure,of,deps;..." as written by the top-level CMakeLists.
  set(all_problems "")
  string(REPLACE "|" ";" FPOKIT_MODULE_DEPS "${FPOKIT_MODULE_DEPS}")
  foreach(entry IN LISTS FPOKIT_MODULE_DEPS)
    string(REPLACE "=" ";" parts "${entry}")
    list(GET parts 0 module)
    list(LENGTH parts n)
    set(allowed "${module}")
    if(n GREATER 1)
      list(GET parts 1 deps)
      string(REPLACE "," ";" deps "${deps}")
      list(APPEND allowed ${deps})
    endif()
    fpokit_check_module_includes(${module} "${FPOKIT_SOURCE_DIR}/${module}" "${allowed}" problems)
    list(APPEND all_problems ${problems})
  endforeach()
  if(all_problems)
    string(REPLACE ";" "\n  " text "${all_problems}")
    message(FATAL_ERROR "module DAG violated (tools -> analysis -> fpo -> sae -> lm -> core):\n  ${text}")
  endif()
  message(STATUS "module DAG holds")
endif()
