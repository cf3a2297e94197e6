# ctest entries that cross-build the Windows agent with mingw-w64 (into build/mingw) and run its
# test binary under Wine (prefix build/mingw/wineprefix, created once). The build is a test
# fixture rather than part of `cmake --build`, so run-dev.sh and incremental builds do not pay
# for it; ctest runs it before the Wine test.
set(PW_WINDOWS_CROSS_SCRIPT ${PROJECT_SOURCE_DIR}/cmake/windows-cross.sh)
set(PW_WINDOWS_CROSS_DIR ${PROJECT_BINARY_DIR}/mingw)
add_test(NAME windows.cross_build
  COMMAND bash ${PW_WINDOWS_CROSS_SCRIPT} build ${PROJECT_SOURCE_DIR} ${PW_WINDOWS_CROSS_DIR})
set_tests_properties(windows.cross_build PROPERTIES FIXTURES_SETUP windows_cross TIMEOUT 1800
  ENVIRONMENT "PORTWATCH_POLICY_EMBED_TOOL=$<TARGET_FILE:policy_embed>")
add_test(NAME windows.agent_test_under_wine
  COMMAND bash ${PW_WINDOWS_CROSS_SCRIPT} test ${PROJECT_SOURCE_DIR} ${PW_WINDOWS_CROSS_DIR})
set_tests_properties(windows.agent_test_under_wine PROPERTIES
  FIXTURES_REQUIRED windows_cross TIMEOUT 600 RESOURCE_LOCK windows_wineprefix)
