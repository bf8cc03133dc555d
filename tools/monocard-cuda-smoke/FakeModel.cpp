//===- FakeModel.cpp - A hand-written CUDA host object for the tests ------===//
//
// What monocard-compile --target=cuda emits, written by hand: the model
// info with its "cuda" launch plan, the kernels' PTX and a cubin, as data
// with C linkage. Linked like a compiled model (this object, then
// libMonocardLauncherCudaMain.a, then the runtime's archives) it is a
// complete CUDA model program, which the lit tests run over the fake driver
// (FakeDriver.cpp runs the fake_* kernels on the CPU):
//
//   one i32 token per KV row; the next token is
//     (sum of the tokens at rows 0..last + 1 + w[0]) % 97
//   fake_append writes the step's rows, fake_sum sums them into the arena,
//   fake_logits writes logits[i] = -|i - next|, fake_sample picks a token
//   (greedy, or Gumbel-max when the temperature is > 0).
//
// The cubin is an ELF header the fake driver refuses, so the program also
// checks the fall-back to PTX. Weights: a checkpoint with one f32 tensor
// "w" of 4 values, packed with --pack.
//
//===----------------------------------------------------------------------===//

extern "C" {

extern const char monocard_model_info[] = R"json({
"format": 1, "target": "cuda", "architecture": "FakeForCausalLM",
"vocab_size": 97, "hidden_size": 4, "num_layers": 1, "num_heads": 1,
"num_kv_heads": 1, "head_dim": 4, "max_seq": 16, "prefill_chunk": 4,
"bos_token_id": null, "eos_token_id": 96,
"weights_bytes": 16, "kv_bytes": 64, "arena_bytes": 64,
"fingerprint": "0123456789abcdef",
"recipe": [{"param": "w", "offset": 0, "dtype": "f32", "shape": [4],
            "sources": ["w"], "transform": "convert"}],
"cuda": {
  "ptx_arch": "sm_80", "cubin_arch": "sm_90",
  "io": {"bytes": 1024, "logits": 0, "tokens": 512, "pos": 768,
         "n_valid": 772, "next_token": 776, "temperature": 780,
         "seed": 784, "counter": 788},
  "kernels": ["fake_append", "fake_sum", "fake_logits", "fake_sample"],
  "steps": {
    "prefill": [
      {"kernel": 0, "grid": [1,1,1], "block": [4,1,1], "smem": 0,
       "args": [{"buffer": "kv", "offset": 0}, {"buffer": "io", "offset": 512},
                {"buffer": "io", "offset": 768}, {"i32": 4}]},
      {"kernel": 1, "grid": [1,1,1], "block": [32,1,1], "smem": 0,
       "args": [{"buffer": "kv", "offset": 0}, {"buffer": "io", "offset": 768},
                {"buffer": "io", "offset": 772},
                {"buffer": "arena", "offset": 8}]},
      {"kernel": 2, "grid": [1,1,1], "block": [128,1,1], "smem": 0,
       "args": [{"buffer": "arena", "offset": 8},
                {"buffer": "weights", "offset": 0},
                {"buffer": "io", "offset": 0}, {"i32": 97}]},
      {"kernel": 3, "grid": [1,1,1], "block": [1024,1,1], "smem": 65536,
       "args": [{"buffer": "io", "offset": 0}, {"buffer": "io", "offset": 776},
                {"buffer": "io", "offset": 780},
                {"buffer": "io", "offset": 784},
                {"buffer": "io", "offset": 788}, {"i32": 97}, {"f32": 0.5}]}
    ],
    "decode": [
      {"kernel": 0, "grid": [1,1,1], "block": [1,1,1], "smem": 0,
       "args": [{"buffer": "kv", "offset": 0}, {"buffer": "io", "offset": 512},
                {"buffer": "io", "offset": 768}, {"i32": 1}]},
      {"kernel": 1, "grid": [1,1,1], "block": [32,1,1], "smem": 0,
       "args": [{"buffer": "kv", "offset": 0}, {"buffer": "io", "offset": 768},
                {"buffer": "io", "offset": 772},
                {"buffer": "arena", "offset": 8}]},
      {"kernel": 2, "grid": [1,1,1], "block": [128,1,1], "smem": 0,
       "args": [{"buffer": "arena", "offset": 8},
                {"buffer": "weights", "offset": 0},
                {"buffer": "io", "offset": 0}, {"i32": 97}]},
      {"kernel": 3, "grid": [1,1,1], "block": [1024,1,1], "smem": 65536,
       "args": [{"buffer": "io", "offset": 0}, {"buffer": "io", "offset": 776},
                {"buffer": "io", "offset": 780},
                {"buffer": "io", "offset": 784},
                {"buffer": "io", "offset": 788}, {"i32": 97}, {"f32": 0.5}]}
    ]
  }
}
})json";

// Declarations only: the fake driver reads the parameter lists; the bodies
// are empty because it runs its own CPU versions.
extern const char monocard_cuda_ptx[] = R"ptx(.version 8.0
.target sm_80
.address_size 64
.visible .entry fake_append(.param .u64 kv, .param .u64 tokens,
                            .param .u64 pos, .param .u32 rows) { ret; }
.visible .entry fake_sum(.param .u64 kv, .param .u64 pos, .param .u64 n_valid,
                         .param .u64 out) { ret; }
.visible .entry fake_logits(.param .u64 sum, .param .u64 weights,
                            .param .u64 logits, .param .s32 vocab) { ret; }
.visible .entry fake_sample(.param .u64 logits, .param .u64 next,
                            .param .u64 temperature, .param .u64 seed,
                            .param .u64 counter, .param .s32 vocab,
                            .param .f32 scale) { ret; }
)ptx";

extern const unsigned char monocard_cuda_cubin[64] = {0x7f, 'E', 'L', 'F'};
extern const unsigned long long monocard_cuda_cubin_size = 64;
}
