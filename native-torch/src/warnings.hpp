// libtorch's warnings (TORCH_WARN: a dynamically quantized model's Linear, a deprecated
// operator) as the process's own JSON log lines, instead of the raw lines c10's
// default handler prints on stderr.
#pragma once

namespace ntorch {

// Installs the handler for the whole process; call before libtorch runs anything.
void log_torch_warnings();

}  // namespace ntorch
