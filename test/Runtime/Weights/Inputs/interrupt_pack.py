#!/usr/bin/env python3
"""Interrupts a pack half-way with SIGINT, deterministically: the checkpoint's
tokenizer.json is a FIFO, so the packer blocks opening it after writing every
tensor to its temporary file. Then checks that the process died of SIGINT,
that the temporary file is gone and that OUT is as it was.

  interrupt_pack.py INFO.json CKPT_DIR OUT.weights
"""
import glob, os, signal, subprocess, sys, time

info, ckpt, out = sys.argv[1:4]
before = open(out, "rb").read() if os.path.exists(out) else None
fifo = os.path.join(ckpt, "tokenizer.json")
if os.path.exists(fifo):
    os.remove(fifo)
os.mkfifo(fifo)
# As from a terminal: SIGINT not ignored, whatever the test runner does.
p = subprocess.Popen(["monocard-runtime-test", "pack", info, ckpt, out],
                     preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                      signal.SIG_DFL))
deadline = time.time() + 60
while not glob.glob(out + ".tmp-*"):
    assert p.poll() is None, "pack ended before blocking on the FIFO"
    assert time.time() < deadline, "no temporary file appeared"
    time.sleep(0.01)
# The tensors are written once the FIFO is being opened; give it a moment.
time.sleep(0.2)
p.send_signal(signal.SIGINT)
rc = p.wait(timeout=60)
os.remove(fifo)
assert rc == -signal.SIGINT, "exit status %d, expected death by SIGINT" % rc
left = glob.glob(out + ".tmp-*")
assert not left, "temporary file left behind: %s" % left
after = open(out, "rb").read() if os.path.exists(out) else None
assert after == before, "the weights file changed"
print("interrupted pack: old file %s, no temporary file"
      % ("intact" if before is not None else "absent"))
