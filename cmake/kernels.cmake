# gpb_embed_kernels(TARGET <target> [SOURCES <a.comp> ...]
#                   [VARIANTS <name>:<source.comp>[:<DEF>=<value>,...[:<target-env>]] ...]
#                   [DEPENDS <header.glsl> ...])
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
# A SOURCES entry is named after its file; a VARIANTS entry compiles one
# source under another name with preprocessor definitions (one source, several
# kernels: "llama_wide_qkv_f16:kernels/llama_wide_matvec.comp:KIND_QKV=1,WEIGHT_F16=1"); a fourth
# field picks glslc's --target-env (default vulkan1.2, what devices are created for; tests compile
# for others to check that such kernels are refused).
# DEPENDS lists files the sources #include (glslc's includes are invisible to
# the build), so that editing one rebuilds every kernel.
#
# Installed with gpubatch's CMake package: find_package(gpubatch) defines it.
find_program(GLSLC glslc)


function(gpb_embed_kernels)
  cmake_parse_arguments(K "" "TARGET" "SOURCES;VARIANTS;DEPENDS" ${ARGN})
  if(NOT GLSLC)
    message(FATAL_ERROR "gpb_embed_kernels: glslc not found (Debian package glslc; or set GLSLC to its path)")
  endif()
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/kernels)
  file(MAKE_DIRECTORY ${out_dir})
  set(entries)
  foreach(src ${K_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    list(APPEND entries "${name}:${src}")
  endforeach()
  list(APPEND entries ${K_VARIANTS})
  set(depends)
  foreach(dep ${K_DEPENDS})
    get_filename_component(abs ${dep} ABSOLUTE)
    list(APPEND depends ${abs})
  endforeach()
  set(outputs)
  foreach(entry ${entries})
    string(REPLACE ":" ";" parts "${entry}")
    list(LENGTH parts count)
    list(GET parts 0 name)
    list(GET parts 1 src)
    set(defines)
    if(count GREATER 2)
      list(GET parts 2 defs)
      string(REPLACE "," ";" defs "${defs}")
      foreach(def ${defs})
        list(APPEND defines "-D${def}")
      endforeach()
    endif()
    set(env vulkan1.2)
    if(count GREATER 3)
      list(GET parts 3 env)
    endif()
    get_filename_component(abs ${src} ABSOLUTE)
    add_custom_command(
      OUTPUT ${out_dir}/${name}.spv ${out_dir}/${name}.inc
      COMMAND ${GLSLC} --target-env=${env} -O -Werror ${defines} -o ${out_dir}/${name}.spv ${abs}
      COMMAND ${GLSLC} --target-env=${env} -O -Werror ${defines} -mfmt=c -o ${out_dir}/${name}.inc ${abs}
      DEPENDS ${abs} ${depends}
      COMMENT "glslc ${name}"
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
