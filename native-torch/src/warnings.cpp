#include "warnings.hpp"

#include <c10/util/Exception.h>
#include <torch/csrc/jit/runtime/print_handler.h>

#include <string>

#include "feeder/log.hpp"

namespace ntorch {
namespace {

class LogWarnings final : public c10::WarningHandler {
 public:
  void process(const c10::Warning& warning) override {
    const c10::SourceLocation& at = warning.source_location();
    std::string file = at.file != nullptr ? at.file : "";
    file = file.substr(file.rfind('/') + 1);
    feeder::log_warn("libtorch: " + warning.msg() + " (" + file + ":" + std::to_string(at.line) + ")");
  }
};

// TorchScript's print() went to std::cout: into the buffer of the stream that carries
// the frames, lost at _exit, or flushed into the middle of them once the buffer filled.
void log_print(const std::string& text) {
  std::string line = text;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  feeder::log_info("TorchScript print: " + line);
}

}  // namespace

void log_torch_output() {
  // Static: c10 keeps the pointer, and warnings may come until the process exits.
  static LogWarnings handler;
  c10::WarningUtils::set_warning_handler(&handler);
  torch::jit::setPrintHandler(&log_print);
}

}  // namespace ntorch
