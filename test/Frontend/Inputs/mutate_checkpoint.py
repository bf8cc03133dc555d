"""Edits a checkpoint that make_checkpoint.py wrote, for the limits tests.

  mutate_checkpoint.py DIR config KEY=JSON ...   set config.json fields; KEY
      may be dotted (rope_scaling.factor); JSON is written verbatim, so
      values Python's json cannot produce (1e999, NaN) can be tested.
  mutate_checkpoint.py DIR shape TENSOR JSON     set a tensor's shape in the
      model.safetensors header, leaving its data_offsets alone.
"""
import json
import os
import sys

from monocard.checkpoints import _rewrite_header


def set_config(ckpt, assignments):
    path = os.path.join(ckpt, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    raw = {}
    for i, assignment in enumerate(assignments):
        key, text = assignment.split("=", 1)
        *parents, leaf = key.split(".")
        obj = cfg
        for p in parents:
            if not isinstance(obj.get(p), dict):
                obj[p] = {}
            obj = obj[p]
        placeholder = "@@raw%d@@" % i
        obj[leaf] = placeholder
        raw['"%s"' % placeholder] = text
    text = json.dumps(cfg, indent=2)
    for placeholder, value in raw.items():
        text = text.replace(placeholder, value)
    with open(path, "w") as f:
        f.write(text + "\n")


def set_shape(ckpt, tensor, shape):
    def mutate(header):
        header[tensor]["shape"] = json.loads(shape)
    _rewrite_header(os.path.join(ckpt, "model.safetensors"), mutate)


def main(argv):
    ckpt, what, rest = argv[1], argv[2], argv[3:]
    if what == "config":
        set_config(ckpt, rest)
    elif what == "shape":
        set_shape(ckpt, rest[0], rest[1])
    else:
        sys.exit("unknown edit %r" % what)


if __name__ == "__main__":
    main(sys.argv)
