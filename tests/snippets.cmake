# The usage examples users copy, compiled and run as tests: the C block of
# README.md's "Using it" (a whole program) and the example at the top of
# gpubatch.h (a function body, wrapped here). Each must print host[0] = 100.
file(READ ${PROJECT_SOURCE_DIR}/README.md readme)
string(FIND "${readme}" "## Using it" at)
string(SUBSTRING "${readme}" ${at} -1 readme)
string(FIND "${readme}" "```c\n" at)
math(EXPR at "${at} + 5")
string(SUBSTRING "${readme}" ${at} -1 readme)
string(FIND "${readme}" "```" end)
string(SUBSTRING "${readme}" 0 ${end} readme_c)
if(NOT readme_c MATCHES "int main")
  message(FATAL_ERROR "README.md's \"Using it\" section has no C example")
endif()
set(snippet_dir ${CMAKE_CURRENT_BINARY_DIR}/snippets)
file(WRITE ${snippet_dir}/readme_example.c "${readme_c}")
# Reconfigure when either source changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/include/gpubatch/gpubatch.h)

file(STRINGS ${PROJECT_SOURCE_DIR}/include/gpubatch/gpubatch.h header_lines)
set(body "")
set(in_example OFF)
foreach(line IN LISTS header_lines)
  if(line MATCHES "^//   (.*)$")
    set(in_example ON)
    string(APPEND body "${CMAKE_MATCH_1}\n")
  elseif(in_example)
    break()
  endif()
endforeach()
file(WRITE ${snippet_dir}/header_example.c
  "#include <stdio.h>\n#include <gpubatch/gpubatch.h>\nint main(void) {\n${body}  printf(\"host[0] = %u\\n\", host[0]);\n  return st != GPB_OK;\n}\n")

foreach(example readme_example header_example)
  add_executable(${example} ${snippet_dir}/${example}.c)
  target_link_libraries(${example} PRIVATE gpubatch)
  add_dependencies(${example} gpb_test_kernels_kernels)
  # add_one.spv is loaded from the working directory, as the example says.
  add_test(NAME ${example} COMMAND ${example} WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/kernels)
  set_tests_properties(${example} PROPERTIES LABELS "gpu;docs" PASS_REGULAR_EXPRESSION "host\\[0\\] = 100\n")
endforeach()
