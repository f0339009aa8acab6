#!/usr/bin/env bash
# Runs on the GPU machine: the llama decoder at larger model shapes (random
# weights), gpubatch with f32 and f16 weights against PyTorch fp32 and fp16,
# each against the GPU's read-bandwidth roofline. Usage:
#   bash bench/scripts/gpu-llama-shapes.sh BUILD OUTDIR PART [STEPS]
# PART is one of probe, stories15M, stories42M, stories110M, qwen05b,
# tinyllama11b (or tiny, a toy shape for a smoke test on any device), or a
# comma list of them; STEPS defaults to 128. A part is sized to fit one
# 10-minute command on an H100; tinyllama11b alone takes most of one.
#
# Every invocation first measures the read bandwidth (bench/peers/bandwidth.py),
# so each part's table has its own roofline. Then per shape:
#   - the checkpoint /tmp/gpb-shapes-NAME.bin (kept, and reused while its size
#     is the one the shape implies);
#   - per weights type: gpubatch batched --record-ahead, batched and immediate,
#     STEPS steps, REPS runs each (default 1; the table takes medians);
#   - per weights type: one traced batched --record-ahead run of 32 steps,
#     $OUTDIR/trace-NAME-WEIGHTS[-PLAN].json, summarized per kernel by
#     bench/scripts/trace-kernels.py;
#   - PyTorch fp32 and fp16, eager and CUDA graph (bench/peers/torch_llama.py).
# Environment: REPS=N; WEIGHTS="f32 f16" (weights types; "-" runs without
# --weights, for a build that lacks the flag; bf16, q8_0 and q4_0 convert the
# checkpoint once with llama-convert to /tmp/gpb-shapes-NAME-TYPE-tok-*.gguf,
# kept while newer than the checkpoint and its tokenizer (see LLAMACPP), and
# decode that with --model); PLANS="auto" or e.g.
# "fused wide" loops the plans and passes --plan (unset: no --plan);
# MODES="record-ahead batched immediate" (the gpubatch modes); TORCH=0 skips
# PyTorch; TRACES=0 skips the traced runs.
# LLAMACPP=DIR adds llama.cpp's Vulkan backend (DIR as bench/peers/llamacpp-vulkan.sh
# leaves it) on GGUF conversions of the checkpoint, f32 and each GGUF-capable type
# in WEIGHTS, REPS runs each. llama.cpp's loader requires a vocabulary, so every
# GGUF file the script writes carries TOKENIZER=FILE (a llama2.c tokenizer.bin of
# the shape's vocabulary size) or, unset, a synthetic one of that size (llama-gen
# --tokenizer-out, /tmp/gpb-shapes-tok-VOCAB.bin); decoding from BOS never reads
# its pieces, so gpubatch and llama.cpp decode the same files.
# Where torch or CUDA is missing, the probe and PyTorch rows are skipped with
# a note; a failing command is logged with its exit status and the run goes on.
# Output: every command and its output in $OUTDIR/shapes-PART.txt ("## command"
# before, "# rc STATUS SECONDS s" after; "# phase NAME SECONDS s" per phase),
# and the table from bench/scripts/llama-shapes-summary.py in
# $OUTDIR/shapes-table-PART.md (a comma list's commas become '-'), also
# printed at the end. The console shows the log with long lines cut.
set -u -o pipefail

usage() {
  echo "usage: bash bench/scripts/gpu-llama-shapes.sh BUILD OUTDIR PART[,PART...] [STEPS]" >&2
  echo "  PART: probe stories15M stories42M stories110M qwen05b tinyllama11b tiny" >&2
  exit 2
}
[ $# -ge 3 ] || usage
build=$1
out=$2
parts=$3
steps=${4:-128}
reps=${REPS:-1}
weights_list=${WEIGHTS:-f32 f16}
plans=${PLANS:-}
modes=${MODES:-record-ahead batched immediate}
trace_steps=32
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
gpb=$build/gpubatch

source "$root/bench/scripts/llama-shapes.sh" # shape_config
for p in ${parts//,/ }; do
  [ "$p" = probe ] || shape_config "$p" >/dev/null || {
    echo "unknown part '$p'" >&2
    usage
  }
done
[[ $steps =~ ^[0-9]+$ && $reps =~ ^[1-9][0-9]*$ ]] || usage
t_all=$(date +%s.%N)

mkdir -p "$out"
tag=${parts//,/-}
log=$out/shapes-$tag.txt
table=$out/shapes-table-$tag.md
: >"$log"
# gpu-env.sh points the Vulkan loader at the NVIDIA driver it names; where that
# driver is absent (a machine without the GPU) it would hide every other device.
if [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && [ -f "$root/.gpu/gpu-env.sh" ]; then
  source "$root/.gpu/gpu-env.sh" >/dev/null 2>&1
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# Runs a command with its output in the log, then its exit status and seconds.
run() {
  echo "## $*"
  local t0 rc
  t0=$(now)
  "$@" 2>&1
  rc=$?
  echo "# rc $rc $(since "$t0") s"
  return $rc
}
phase() { echo "# phase $1 $(since "$2") s"; }

torch_ok=0 torch_why=""
python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)' >/dev/null 2>&1
case $? in
  0) torch_ok=1 ;;
  3) torch_why="torch sees no CUDA device" ;;
  *) torch_why="python3 cannot import torch" ;;
esac

do_shape() {
  local name=$1 dim hidden layers heads kvh vocab seq std cls t_shape t
  read -r dim hidden layers heads kvh vocab seq std cls <<<"$(shape_config "$name")"
  local ckpt=/tmp/gpb-shapes-$name.bin gen_flags expected
  expected=$(shape_checkpoint_bytes "$name")
  read -r -a gen_flags <<<"$(shape_gen_flags "$name")"
  t_shape=$(now)
  echo "# shape $name {\"shape\": \"$name\", \"dim\": $dim, \"hidden\": $hidden, \"layers\": $layers," \
    "\"heads\": $heads, \"kv_heads\": $kvh, \"vocab\": $vocab, \"seq_len\": $seq, \"std\": $std," \
    "\"shared_classifier\": $([ "$cls" = shared ] && echo true || echo false), \"steps\": $steps," \
    "\"checkpoint\": \"$ckpt\"}"

  t=$(now)
  if [ -f "$ckpt" ] && [ "$(stat -c %s "$ckpt")" = "$expected" ]; then
    echo "# reusing $ckpt"
  else
    run "$gpb" llama-gen "${gen_flags[@]}" -o "$ckpt"
  fi
  local size
  size=$(stat -c %s "$ckpt" 2>/dev/null || echo 0)
  phase "$name/generate" "$t"
  if [ "$size" != "$expected" ]; then
    echo "# skip $name: checkpoint is $size bytes, expected $expected"
    return
  fi
  echo "# file $name $size bytes ($((size / 1000000)) MB, float32)"

  local w rep plan mode margs wflag pflag wname tname gguf
  local tok=${TOKENIZER:-/tmp/gpb-shapes-tok-$vocab.bin}
  # $gguf: the checkpoint converted to weights type $1, made when missing or
  # older than its inputs. Every such file carries a tokenizer, as llama.cpp's
  # loader needs a vocabulary: TOKENIZER, or a synthetic one of the shape's
  # size (decoding from BOS never reads its pieces). Fails as the conversion.
  gguf_file() {
    if [ -z "${TOKENIZER:-}" ] && [ ! -f "$tok" ]; then
      run "$gpb" llama-gen --dim 8 --hidden 8 --layers 1 --heads 1 --kv-heads 1 --vocab "$vocab" --seq-len 8 \
        -o /tmp/gpb-shapes-tok-model.bin --tokenizer-out "$tok"
    fi
    gguf=/tmp/gpb-shapes-$name-$1-tok-$(basename "$tok").gguf
    if [ ! -f "$gguf" ] || [ "$gguf" -ot "$ckpt" ] || [ "$gguf" -ot "$tok" ]; then
      run "$gpb" llama-convert "$ckpt" -o "$gguf" --type "$1" --tokenizer "$tok"
    fi
  }
  # The model arguments for weights type $1: the checkpoint (with --weights),
  # or its GGUF conversion for the types only a GGUF file holds.
  model_flags() {
    case $1 in
      bf16 | q8_0 | q4_0)
        gguf_file "$1"
        wflag=(--model "$gguf")
        ;;
      -) wflag=(--checkpoint "$ckpt") ;;
      *) wflag=(--checkpoint "$ckpt" --weights "$1") ;;
    esac
  }
  for w in $weights_list; do
    t=$(now)
    model_flags "$w"
    for ((rep = 1; rep <= reps; rep++)); do
      for plan in ${plans:-_}; do
        pflag=()
        [ "$plan" = _ ] || pflag=(--plan "$plan")
        for mode in $modes; do
          margs=(--mode "$mode")
          [ "$mode" = record-ahead ] && margs=(--mode batched --record-ahead)
          run "$gpb" llama --steps "$steps" "${margs[@]}" "${wflag[@]}" "${pflag[@]}" --json
        done
      done
    done
    phase "$name/gpubatch-${w/#-/default}" "$t"
  done

  t=$(now)
  for w in $weights_list; do
    [ "${TRACES:-1}" = 0 ] && break
    wname=$w
    [ "$w" = - ] && wname=default
    model_flags "$w"
    for plan in ${plans:-_}; do
      pflag=()
      tname=trace-$name-$wname
      if [ "$plan" != _ ]; then
        pflag=(--plan "$plan")
        tname=$tname-$plan
      fi
      run "$gpb" llama --steps "$trace_steps" --mode batched --record-ahead \
        "${wflag[@]}" "${pflag[@]}" --trace "$out/$tname.json" --json &&
        run python3 "$root/bench/scripts/trace-kernels.py" "$out/$tname.json" --steps "$trace_steps" --json
    done
  done
  phase "$name/traces" "$t"

  if [ $torch_ok = 1 ] && [ "${TORCH:-1}" != 0 ]; then
    local dt
    for dt in fp32 fp16; do
      t=$(now)
      run python3 "$root/bench/peers/torch_llama.py" --checkpoint "$ckpt" --steps "$steps" --dtype $dt \
        --check-ids --json
      phase "$name/torch-$dt" "$t"
    done
  else
    echo "# skip $name torch: $torch_why"
  fi

  # llama.cpp's Vulkan backend on the GGUF files: f32 (its tokens must equal
  # gpubatch's) and each GGUF type in WEIGHTS.
  if [ -n "${LLAMACPP:-}" ]; then
    local pw seen=""
    if [ ! -x "$LLAMACPP/llamacpp_vulkan" ]; then
      echo "# skip $name llama.cpp: no $LLAMACPP/llamacpp_vulkan (bench/peers/llamacpp-vulkan.sh builds it)"
    else
      for pw in f32 $weights_list; do
        case $pw in
          f32 | f16 | bf16 | q8_0 | q4_0) ;;
          *) continue ;;
        esac
        case " $seen " in *" $pw "*) continue ;; esac
        seen="$seen $pw"
        t=$(now)
        gguf_file "$pw" || continue
        for ((rep = 1; rep <= reps; rep++)); do
          run "$LLAMACPP/llamacpp_vulkan" --lib "$LLAMACPP/lib" --model "$gguf" --steps "$steps" --json
        done
        phase "$name/llamacpp-$pw" "$t"
      done
    fi
  fi
  phase "$name/total" "$t_shape"
}

{
  echo "# parts $parts steps $steps reps $reps weights $weights_list plans ${plans:-(none)} on $(hostname)"
  t=$(now)
  if [ $torch_ok = 1 ]; then
    run python3 "$root/bench/peers/bandwidth.py" --json
  else
    echo "# skip probe: $torch_why"
  fi
  phase probe "$t"
  for p in ${parts//,/ }; do
    [ "$p" = probe ] || do_shape "$p"
  done
  phase all "$t_all"
} 2>&1 | tee -a "$log" | awk '
  # The console gets the log cut short: a failing command can print a whole
  # usage text, which would push the rest out of view.
  /^#/ { n = 0; print substr($0, 1, 300); fflush(); next }
  /^\{/ { print substr($0, 1, 300); fflush(); next }
  ++n <= 12 { print substr($0, 1, 300); fflush() }
  n == 13 { print "  ... (the rest is in the log)"; fflush() }'
python3 "$root/bench/scripts/llama-shapes-summary.py" "$log" | tee "$table"
