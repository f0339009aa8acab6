# Sourced by the llama benchmark scripts: the model shapes they generate
# (random llama2.c checkpoints in real models' shapes; tiny for smoke tests).
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
