#include "protocol.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <vector>

namespace ntorch {
namespace {

using feeder::got;
using feeder::kArgKeys;
using feeder::RequestError;

int64_t to_int64(const msgpack::object& t, const std::string& at) {
  if (t.type == msgpack::type::NEGATIVE_INTEGER) return t.via.i64;
  if (t.type != msgpack::type::POSITIVE_INTEGER) {
    throw RequestError(at + " is not an integer" + got(t));
  }
  if (t.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw RequestError(at + " is " + std::to_string(t.via.u64) + ", beyond int64");
  }
  return static_cast<int64_t>(t.via.u64);
}

// [[int]] -> int64 tensor [batch, seq], the shape pytorch_inference passes.
at::Tensor to_matrix(const msgpack::object& rows, const std::string& name) {
  if (rows.type != msgpack::type::ARRAY) throw RequestError(name + " is not an array" + got(rows));
  const uint32_t batch = rows.via.array.size;
  if (batch == 0) throw RequestError(name + " is empty");
  const msgpack::object& first = rows.via.array.ptr[0];
  const uint32_t seq = first.type == msgpack::type::ARRAY ? first.via.array.size : 0;
  at::Tensor out = at::empty({batch, seq}, at::kLong);
  int64_t* dst = out.data_ptr<int64_t>();
  for (uint32_t b = 0; b < batch; ++b) {
    const msgpack::object& row = rows.via.array.ptr[b];
    std::string where = name + "[" + std::to_string(b) + "]";
    if (row.type != msgpack::type::ARRAY) throw RequestError(where + " is not an array" + got(row));
    if (row.via.array.size != seq) {
      throw RequestError(where + " has " + std::to_string(row.via.array.size) +
                         " elements, " + name + "[0] has " + std::to_string(seq) +
                         ": every row must have the same length");
    }
    for (uint32_t i = 0; i < seq; ++i) {
      *dst++ = to_int64(row.via.array.ptr[i], where + "[" + std::to_string(i) + "]");
    }
  }
  return out;
}

std::vector<c10::IValue> read_inputs(const feeder::Request& f) {
  std::vector<c10::IValue> inputs;
  at::Tensor tokens = to_matrix(*f.tokens, "tokens");
  inputs.emplace_back(tokens);
  for (int i = 0; i < 3; ++i) {
    if (f.args[i] == nullptr) continue;
    if (static_cast<int>(inputs.size()) != i + 1) {
      throw RequestError(std::string(kArgKeys[i]) + " is given without " + kArgKeys[i - 1]);
    }
    at::Tensor arg = to_matrix(*f.args[i], kArgKeys[i]);
    if (!arg.sizes().equals(tokens.sizes())) {
      throw RequestError(std::string(kArgKeys[i]) + " has shape " + c10::str(arg.sizes()) +
                         ", tokens has " + c10::str(tokens.sizes()) + ": they must match");
    }
    inputs.emplace_back(arg);
  }
  return inputs;
}

// Nested arrays of the tensor's shape, numbers as float64 (exact for float32
// outputs); a 0-dimensional tensor is a bare number.
void pack_tensor(feeder::Packer& pk, const double*& p, at::IntArrayRef sizes, size_t dim) {
  if (dim == sizes.size()) {
    pk.pack_double(*p++);
    return;
  }
  pk.pack_array(static_cast<uint32_t>(sizes[dim]));
  for (int64_t i = 0; i < sizes[dim]; ++i) pack_tensor(pk, p, sizes, dim + 1);
}

}  // namespace

msgpack::sbuffer answer_inference(const feeder::Request& f, Runtime& runtime) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<c10::IValue> inputs = read_inputs(f);
  at::Tensor out;
  try {
    out = runtime.forward(std::move(inputs));
    out = out.to(at::kCPU, at::kDouble).contiguous();
  } catch (const ForwardError& e) {
    throw RequestError(std::string("forward() failed: ") + e.what());
  } catch (const c10::Error& e) {
    throw RequestError(std::string("the output cannot be converted to numbers: ") +
                       e.what_without_backtrace());
  }
  const double* p = out.data_ptr<double>();
  return feeder::encode_result(
      f.id, [&](feeder::Packer& pk) { pack_tensor(pk, p, out.sizes(), 0); }, start);
}

}  // namespace ntorch
