#include "warnings.hpp"

#include <c10/util/Exception.h>

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

}  // namespace

void log_torch_warnings() {
  // Static: c10 keeps the pointer, and warnings may come until the process exits.
  static LogWarnings handler;
  c10::WarningUtils::set_warning_handler(&handler);
}

}  // namespace ntorch
