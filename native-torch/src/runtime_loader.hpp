// Opens libnative-torch-runtime.so (and so libtorch) on a thread of its own,
// so that libtorch's start-up overlaps the model's arrival on stdin.
#pragma once

#include <string>
#include <thread>

#include "entry.hpp"

namespace ntorch {

using ServeFn = void (*)(const ServeArgs*);

class RuntimeLoader {
 public:
  // Starts opening the library found beside the executable.
  RuntimeLoader();
  ~RuntimeLoader();
  RuntimeLoader(const RuntimeLoader&) = delete;
  RuntimeLoader& operator=(const RuntimeLoader&) = delete;

  // Waits for the library; logs the loader's reason and exits kExitInternal
  // if it cannot be opened.
  ServeFn wait();

 private:
  void open();

  std::thread thread_;
  ServeFn serve_ = nullptr;
  std::string error_;
};

}  // namespace ntorch
