"""Monocard's Python side: test checkpoints, a numpy reference model and
comparison tools (numpy and the standard library only).

  safetensors_io  strict safetensors reader/writer, bf16 bit conversion
  bpe_tokenizer   byte-level BPE tokenizer.json: generate, encode, decode
  hf_model        config.json parsing and expected tensors (importer spec)
  checkpoints     tiny random checkpoints, good and broken
  make_checkpoint CLI for checkpoints
  reference       numpy Llama/Mistral/Qwen2 forward pass + greedy CLI
  compare_logits  tolerance check of compiled logits against the reference
"""
