# gpb_embed_kernels(TARGET <target> SOURCES <a.comp> ...)
#
# Compiles each GLSL compute shader with glslc at build time into
# ${CMAKE_CURRENT_BINARY_DIR}/kernels/<name>.spv (loadable with
# gpb_kernel_create_from_file) and <name>.inc, a C initializer list of the
# SPIR-V words, so programs embed their kernels:
#     static const uint32_t k_add_one[] =
#     #include "add_one.inc"
#     ;
# and adds that folder to <target>'s include path. <target> may be an
# INTERFACE library, so that several programs share one set of kernels.
find_program(GLSLC glslc REQUIRED)

function(gpb_embed_kernels)
  cmake_parse_arguments(K "" "TARGET" "SOURCES" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/kernels)
  file(MAKE_DIRECTORY ${out_dir})
  set(outputs)
  foreach(src ${K_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    get_filename_component(abs ${src} ABSOLUTE)
    add_custom_command(
      OUTPUT ${out_dir}/${name}.spv ${out_dir}/${name}.inc
      COMMAND ${GLSLC} --target-env=vulkan1.2 -O -Werror -o ${out_dir}/${name}.spv ${abs}
      COMMAND ${GLSLC} --target-env=vulkan1.2 -O -Werror -mfmt=c -o ${out_dir}/${name}.inc ${abs}
      DEPENDS ${abs}
      COMMENT "glslc ${name}.comp"
      VERBATIM)
    list(APPEND outputs ${out_dir}/${name}.spv ${out_dir}/${name}.inc)
  endforeach()
  add_custom_target(${K_TARGET}_kernels DEPENDS ${outputs})
  add_dependencies(${K_TARGET} ${K_TARGET}_kernels)
  get_target_property(type ${K_TARGET} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${K_TARGET} INTERFACE ${out_dir}) # for several consumers
  else()
    target_include_directories(${K_TARGET} PRIVATE ${out_dir})
  endif()
endfunction()
