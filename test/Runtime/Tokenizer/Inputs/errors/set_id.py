#!/usr/bin/env python3
"""Writes a copy of a tokenizer.json with one id changed or added, for the
id-bound tests: set_id.py IN OUT WHERE ID, WHERE one of
  vocab:TOKEN       the model's vocab entry TOKEN (added if absent)
  added:TOKEN       an added token TOKEN
  template:TOKEN    a TemplateProcessing post-processor adding TOKEN
  cls:TOKEN         a RobertaProcessing post-processor with cls [TOKEN, ID]
"""
import json, sys

src, dst, where, value = sys.argv[1:5]
kind, token = where.split(":", 1)
t = json.load(open(src))
v = int(value)
if kind == "vocab":
    t["model"]["vocab"][token] = v
elif kind == "added":
    t["added_tokens"].append({"id": v, "content": token, "special": True})
elif kind == "template":
    t["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": token, "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "special_tokens": {token: {"id": token, "ids": [v], "tokens": [token]}}}
elif kind == "cls":
    t["post_processor"] = {"type": "RobertaProcessing", "cls": [token, v],
                           "sep": ["b", 1]}
json.dump(t, open(dst, "w"))
