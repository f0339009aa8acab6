# cmake -DCLI=gpubatch-llama -DCHECKPOINT=F -P modes_agree.cmake
# Decodes one checkpoint from a prompt in every GPU mode, with and without
# --ahead (and batched and replay with --record-ahead), in the fused and the
# wide plan, and fails unless every run printed the same token ids (the
# prompt's tokens are forced, the rest are the GPU's argmax) with no
# validation message.
set(runs batched immediate replay batched,--ahead replay,--ahead immediate,--ahead batched,--record-ahead
         replay,--record-ahead batched,--plan,wide immediate,--plan,wide replay,--ahead,--plan,wide
         batched,--record-ahead,--plan,wide)
set(reference "")
foreach(run IN LISTS runs)
  string(REPLACE "," ";" args "${run}")
  execute_process(
    COMMAND ${CLI} --checkpoint ${CHECKPOINT} --prompt-ids 5,6,7 --steps 40 --json --mode ${args}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "--mode ${run}: exit ${rc}: ${err}")
  endif()
  string(REGEX MATCH "\"tokens\": \\[[0-9, ]*\\]" tokens "${out}")
  string(REGEX MATCH "\"validation_messages\": 0" clean "${out}")
  if(tokens STREQUAL "" OR clean STREQUAL "")
    message(FATAL_ERROR "--mode ${run}: unexpected output: ${out}")
  endif()
  message(STATUS "--mode ${run}: ${tokens}")
  if(reference STREQUAL "")
    set(reference "${tokens}")
  elseif(NOT tokens STREQUAL reference)
    message(FATAL_ERROR "--mode ${run} decoded ${tokens}, batched ${reference}")
  endif()
endforeach()
