#include "runtime_loader.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>

#include "feeder/io.hpp"
#include "feeder/log.hpp"

namespace ntorch {
namespace {

// Beside the executable (the build directory), whatever the working directory is.
std::string library_path() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return kRuntimeLibrary;
  std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/') + 1) + kRuntimeLibrary;
}

}  // namespace

RuntimeLoader::RuntimeLoader() : thread_([this] { open(); }) {}

RuntimeLoader::~RuntimeLoader() {
  if (thread_.joinable()) thread_.join();
}

void RuntimeLoader::open() {
  const std::string path = library_path();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    error_ = std::string("cannot load the libtorch runtime: ") + ::dlerror();
    return;
  }
  serve_ = reinterpret_cast<ServeFn>(::dlsym(handle, kServeSymbol));
  if (serve_ == nullptr) error_ = "no " + std::string(kServeSymbol) + " in " + path;
}

ServeFn RuntimeLoader::wait() {
  thread_.join();
  if (serve_ == nullptr) {
    feeder::log_error(error_ + " (rebuild with npm run build:torch)");
    feeder::exit_with(feeder::kExitInternal);
  }
  return serve_;
}

}  // namespace ntorch
