# Sourced by the llama benchmark scripts: the model shapes they generate
# (random llama2.c checkpoints in real models' shapes; tiny for smoke tests),
# their checkpoints' sizes and llama-gen's flags for them.
# shape_config NAME prints: dim hidden layers heads kv_heads vocab seq_len std classifier
shape_config() {
  case $1 in
    tiny) echo "64 160 2 4 2 512 64 0.1 shared" ;;
    stories15M) echo "288 768 6 6 6 32000 256 0.1 shared" ;;
    stories42M) echo "512 1376 8 8 8 32000 1024 0.1 shared" ;;
    stories110M) echo "768 2048 12 12 12 32000 1024 0.1 shared" ;;
    qwen05b) echo "896 4864 24 14 2 151936 1024 0.05 separate" ;;
    tinyllama11b) echo "2048 5632 22 32 4 32000 2048 0.05 separate" ;;
    *) return 1 ;;
  esac
}

# The size of shape NAME's llama2.c checkpoint: header, embedding (and
# classifier), norms, matrices, final norm, unused RoPE tables; all float32.
shape_checkpoint_bytes() {
  local dim hidden layers heads kvh vocab seq std cls copies=1
  read -r dim hidden layers heads kvh vocab seq std cls <<<"$(shape_config "$1")" || return 1
  [ "$cls" = separate ] && copies=2
  local hs=$((dim / heads))
  echo $((28 + 4 * (copies * vocab * dim + 2 * layers * dim +
    layers * (2 * dim * dim + 2 * hs * kvh * dim + 3 * hidden * dim) + dim + seq * hs)))
}

# llama-gen's flags for shape NAME's random checkpoint (seed 1).
shape_gen_flags() {
  local dim hidden layers heads kvh vocab seq std cls
  read -r dim hidden layers heads kvh vocab seq std cls <<<"$(shape_config "$1")" || return 1
  echo "--dim $dim --hidden $hidden --layers $layers --heads $heads --kv-heads $kvh --vocab $vocab" \
    "--seq-len $seq --seed 1 --std $std$([ "$cls" = separate ] && echo " --separate-classifier")"
}
