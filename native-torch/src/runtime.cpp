#include "runtime.hpp"

#include <ATen/Parallel.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

namespace ntorch {
namespace {

// What torch::jit::load reads through: a view of the bytes already in
// memory, so the model is neither copied into a stream nor written to disk.
class MemoryReadAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  MemoryReadAdapter(const char* data, size_t size) : data_(data), size_(size) {}
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= size_) return 0;
    size_t len = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos));
    std::memcpy(buf, data_ + pos, len);
    return len;
  }

 private:
  const char* data_;
  size_t size_;
};

// libtorch's messages end in a C++ backtrace that tells an operator nothing.
std::string reason_of(const c10::Error& e) { return e.what_without_backtrace(); }

// torch.save writes the same zip format as torch.jit.save, but a pickle without the code:
// the most common file a user mistakes for a model libtorch can load, and libtorch's own
// reason ("failed locating file constants.pkl") does not say what to do instead. Said
// before that reason, which ends in libtorch's guesses about a corrupted file.
std::string hint_for(const std::shared_ptr<caffe2::serialize::ReadAdapterInterface>& adapter) {
  try {
    caffe2::serialize::PyTorchStreamReader archive(adapter);
    if (archive.hasRecord("data.pkl") && !archive.hasRecord("constants.pkl")) {
      return "it is a file of torch.save (a state dict or a pickled module), not TorchScript: "
             "save the module with torch.jit.save(torch.jit.trace(model, example_inputs)) or "
             "torch.jit.save(torch.jit.script(model)); libtorch says: ";
    }
  } catch (const std::exception&) {
    // Not even a zip archive: libtorch's reason says so.
  }
  return "";
}

at::Tensor first_tensor(const c10::IValue& out) {
  if (out.isTensor()) return out.toTensor();
  if (out.isTuple()) {
    const auto& elements = out.toTupleRef().elements();
    if (!elements.empty() && elements[0].isTensor()) return elements[0].toTensor();
  }
  if (out.isList()) {
    auto list = out.toList();
    if (list.size() > 0 && list.get(0).isTensor()) return list.get(0).toTensor();
  }
  throw ForwardError("forward() returned " + out.tagKind() +
                     ", not a tensor (or a tuple or list whose first element is one)");
}

}  // namespace

void configure_threads(int threads) {
  at::set_num_threads(threads);
  at::set_num_interop_threads(1);
}

void configure_worker_threads() { at::init_num_threads(); }

Runtime::Runtime(const char* data, uint64_t size) {
  if (size == 0) throw LoadError("the model is empty (0 bytes)");
  auto adapter = std::make_shared<MemoryReadAdapter>(data, static_cast<size_t>(size));
  try {
    module_ = torch::jit::load(adapter, c10::Device(c10::kCPU), /*load_debug_files=*/false);
  } catch (const c10::OutOfMemoryError&) {
    // The host's shortage, not the model's fault: an internal error (exit 6), which a restart,
    // or another host, may cure; LoadError's exit 8 tells the daemon that nothing will.
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const c10::Error& e) {
    throw LoadError("the model is not a TorchScript archive libtorch can load: " +
                    hint_for(adapter) + reason_of(e));
  } catch (const std::exception& e) {
    throw LoadError("the model is not a TorchScript archive libtorch can load: " +
                    std::string(e.what()));
  }
  if (!module_.find_method("forward")) {
    throw LoadError("the TorchScript module has no forward() method");
  }
  module_.eval();
}

at::Tensor Runtime::forward(std::vector<c10::IValue> inputs) {
  c10::InferenceMode guard;
  try {
    return first_tensor(module_.forward(std::move(inputs)));
  } catch (const c10::Error& e) {
    throw ForwardError(reason_of(e));
  } catch (const ForwardError&) {
    throw;
  } catch (const std::exception& e) {
    throw ForwardError(e.what());
  }
}

}  // namespace ntorch
