# Project-wide compile options, warnings and sanitizers, applied through the buddy_options target.
add_library(buddy_options INTERFACE)
target_compile_options(buddy_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual -Wcast-align
  -Wimplicit-fallthrough)
if(BUDDY_WERROR)
  target_compile_options(buddy_options INTERFACE -Werror)
endif()
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  # Keep the baseline portable; the engine may be rebuilt for Arm (BlueField) unchanged.
  target_compile_options(buddy_options INTERFACE -mtune=native)
endif()

if(NOT BUDDY_SANITIZE STREQUAL "none")
  # Line tables are all a sanitizer report needs (file:line per frame); full debug info
  # doubles the sanitizer trees' build and link time.
  target_compile_options(buddy_options INTERFACE -g1)
endif()
if(BUDDY_SANITIZE STREQUAL "address")
  target_compile_options(buddy_options INTERFACE -fsanitize=address,undefined
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(buddy_options INTERFACE -fsanitize=address,undefined)
  target_compile_definitions(buddy_options INTERFACE BUDDY_SANITIZER=1)
elseif(BUDDY_SANITIZE STREQUAL "thread")
  target_compile_options(buddy_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(buddy_options INTERFACE -fsanitize=thread)
  target_compile_definitions(buddy_options INTERFACE BUDDY_SANITIZER=1)
elseif(NOT BUDDY_SANITIZE STREQUAL "none")
  message(FATAL_ERROR "BUDDY_SANITIZE must be none, address or thread (got '${BUDDY_SANITIZE}')")
endif()

# buddy_add_test(NAME SOURCES... [LIBS libs...] [LABELS labels...])
# concurrent_tests: every unit test labelled "concurrent" (threads sharing memory), the only
# tests the TSan tree builds and runs.
add_custom_target(concurrent_tests)
function(buddy_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main buddy_options)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/common)
  add_test(NAME ${name} COMMAND ${name})
  set_property(GLOBAL APPEND PROPERTY BUDDY_UNIT_TESTS ${name})
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  endif()
  if("concurrent" IN_LIST T_LABELS)
    add_dependencies(concurrent_tests ${name})
  endif()
endfunction()
