// What libtorch says, as the process's own JSON log lines: its warnings (TORCH_WARN: a
// dynamically quantized model's Linear, a deprecated operator), which c10's default
// handler prints as raw stderr lines, and a TorchScript module's print(), which went to
// stdout, the stream of the frames.
#pragma once

namespace ntorch {

// Installs the handler for the whole process; call before libtorch runs anything.
void log_torch_output();

}  // namespace ntorch
