# The Monocard lit suite: FileCheck tests of passes and tools, and the
# end-to-end tests that compile checkpoints and compare with the reference.
import os
import shutil

import lit.formats
from lit.llvm import llvm_config

config.name = "Monocard"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.monocard_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.monocard_tools_dir, append_path=True)

# Debian's python3 sees python3-numpy; a pyenv python3 earlier on PATH may not.
python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
config.substitutions.append(("%python", python))
config.substitutions.append(("%monocard_src", config.monocard_src_root))
config.substitutions.append(
    ("%mkckpt", python + " " + os.path.join(config.monocard_src_root,
                                             "python", "monocard",
                                             "make_checkpoint.py")))
config.environment["PYTHONPATH"] = os.path.join(config.monocard_src_root,
                                                "python")

# An ASan+UBSan build (MONOCARD_SANITIZE, scripts/test-sanitized.sh): any
# report aborts the process, so that a test expecting `not tool` (exit 1)
# cannot mistake a sanitizer's exit for the tool's own error; that includes
# LeakSanitizer's reports (the suite is leak-free). User poisoning is off
# because LLVM's BumpPtrAllocator poisons memory only where its inline code
# is compiled with ASan: MLIR's StorageUniquer allocator is shared by our instrumented
# attribute storage (which poisons each fresh slab) and uninstrumented
# libMLIR (which then writes into it without unpoisoning), a false
# "use-after-poison". Variables set in the environment come last and win.
if getattr(config, "monocard_sanitize", "").upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("sanitized")
    config.environment["ASAN_OPTIONS"] = ":".join(filter(None, [
        "halt_on_error=1:abort_on_error=1:detect_leaks=1:allow_user_poisoning=0",
        os.environ.get("ASAN_OPTIONS")]))
    config.environment["UBSAN_OPTIONS"] = ":".join(filter(None, [
        "halt_on_error=1:abort_on_error=1:print_stacktrace=1",
        os.environ.get("UBSAN_OPTIONS")]))

if shutil.which("ptxas", path="/usr/local/cuda/bin"):
    config.available_features.add("ptxas")

# Weight quantization (monocard-compile --quant=...): the quality gate
# (test/e2e/quant-quality.test) runs once the compiler has the flag.
import subprocess
try:
    _help = subprocess.run(
        [os.path.join(config.monocard_tools_dir, "monocard-compile"), "--help"],
        capture_output=True, text=True, timeout=60)
    if "--quant" in _help.stdout + _help.stderr:
        config.available_features.add("monocard-quant")
except (OSError, subprocess.SubprocessError):
    pass
