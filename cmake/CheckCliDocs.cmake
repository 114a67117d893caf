cmake_minimum_required(VERSION 3.22)
# The ctest `cli_docs_up_to_date`: docs/cli.md must be exactly what `fpokit help --markdown`
# prints, so that the committed reference cannot drift from the option definitions in tools/.
# Run with cmake -P and -DFPOKIT_BINARY=<path of fpokit> -DFPOKIT_CLI_DOC=<path of docs/cli.md>.
execute_process(COMMAND "${FPOKIT_BINARY}" help --markdown
                OUTPUT_VARIABLE generated ERROR_VARIABLE errors RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "`${FPOKIT_BINARY} help --markdown` failed (exit ${rc}): ${errors}")
endif()
if(EXISTS "${FPOKIT_CLI_DOC}")
  file(READ "${FPOKIT_CLI_DOC}" committed)
else()
  set(committed "")
endif()
if(NOT generated STREQUAL committed)
  message(FATAL_ERROR "${FPOKIT_CLI_DOC} differs from `fpokit help --markdown`; regenerate it with\n"
                      "  ${FPOKIT_BINARY} help --markdown > ${FPOKIT_CLI_DOC}")
endif()
