# Writes monocard/Version.h from Version.h.in: PROJECT_VERSION and the git
# commit of SOURCE_DIR, if git can tell. Run at build time by the
# MonocardVersion target (include/monocard/CMakeLists.txt); configure_file
# leaves the header untouched when nothing changed, so nothing rebuilds.
#   cmake -DSOURCE_DIR= -DINPUT= -DOUTPUT= -DPROJECT_VERSION= -P this-file
set(MONOCARD_GIT_COMMIT "")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${SOURCE_DIR}
    OUTPUT_VARIABLE MONOCARD_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE git_result ERROR_QUIET)
  if(NOT git_result EQUAL 0)
    set(MONOCARD_GIT_COMMIT "")
  endif()
endif()
set(MONOCARD_VERSION_STRING "${PROJECT_VERSION}")
if(MONOCARD_GIT_COMMIT)
  string(APPEND MONOCARD_VERSION_STRING " (git ${MONOCARD_GIT_COMMIT})")
endif()
configure_file(${INPUT} ${OUTPUT} @ONLY)
