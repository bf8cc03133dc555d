"""Writes DIR/model.safetensors with the one tensor the fake CUDA model
(tools/monocard-cuda-smoke/FakeModel.cpp) packs: f32 "w" = [3, 0, 0, 0]."""
import json
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
header = json.dumps({"w": {"dtype": "F32", "shape": [4],
                           "data_offsets": [0, 16]}}).encode()
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header +
            struct.pack("<4f", 3, 0, 0, 0))
