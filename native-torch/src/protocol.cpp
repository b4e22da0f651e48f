#include "protocol.hpp"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <vector>

namespace ntorch {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// Thrown while validating a request or running it; turned into an error frame.
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* const kArgKeys[] = {"arg_1", "arg_2", "arg_3"};

struct Fields {
  std::string request_id;
  const msgpack::object* tokens = nullptr;
  const msgpack::object* control = nullptr;
  const msgpack::object* args[3] = {nullptr, nullptr, nullptr};
};

void pack_head(Packer& pk, uint32_t entries, const char* type, const std::string& id) {
  pk.pack_map(entries);
  pk.pack(std::string("type"));
  pk.pack(std::string(type));
  pk.pack(std::string("request_id"));
  pk.pack(id);
}

msgpack::sbuffer encode_error(const std::string& id, const std::string& message) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 3, "error", id);
  pk.pack(std::string("error"));
  pk.pack_map(1);
  pk.pack(std::string("error"));
  pk.pack(message);
  return buf;
}

const char* type_name(msgpack::type::object_type type) {
  switch (type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "boolean";
    case msgpack::type::POSITIVE_INTEGER: return "positive integer";
    case msgpack::type::NEGATIVE_INTEGER: return "negative integer";
    case msgpack::type::FLOAT32: return "float32";
    case msgpack::type::FLOAT64: return "float64";
    case msgpack::type::STR: return "string";
    case msgpack::type::BIN: return "bin";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    case msgpack::type::EXT: return "ext";
  }
  return "unknown";
}

std::string got(const msgpack::object& o) {
  return std::string(" (got ") + type_name(o.type) + ")";
}

std::string key_of(const msgpack::object& key) {
  if (key.type != msgpack::type::STR) return {};
  return std::string(key.via.str.ptr, key.via.str.size);
}

void note_field(Fields& f, const std::string& key, const msgpack::object* value) {
  if (key == "tokens") f.tokens = value;
  if (key == "control") f.control = value;
  for (int i = 0; i < 3; ++i) {
    if (key == kArgKeys[i]) f.args[i] = value;
  }
}

// Extracts request_id even when the rest is malformed, so error frames can
// still be correlated by the daemon. Unknown keys are ignored.
Fields read_fields(const msgpack::object& req, std::string& id_for_errors) {
  if (req.type != msgpack::type::MAP) throw RequestError("request is not a map" + got(req));
  Fields f;
  const msgpack::object* id = nullptr;
  for (uint32_t i = 0; i < req.via.map.size; ++i) {
    const msgpack::object_kv& kv = req.via.map.ptr[i];
    std::string key = key_of(kv.key);
    if (key == "request_id") id = &kv.val;
    note_field(f, key, &kv.val);
  }
  if (id == nullptr) throw RequestError("missing request_id");
  if (id->type != msgpack::type::STR) throw RequestError("request_id is not a string" + got(*id));
  f.request_id.assign(id->via.str.ptr, id->via.str.size);
  id_for_errors = f.request_id;
  if (f.tokens && f.control) throw RequestError("request has both tokens and control");
  if (!f.tokens && !f.control) throw RequestError("request has neither tokens nor control");
  return f;
}

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

std::vector<c10::IValue> read_inputs(const Fields& f) {
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
void pack_tensor(Packer& pk, const double*& p, at::IntArrayRef sizes, size_t dim) {
  if (dim == sizes.size()) {
    pk.pack_double(*p++);
    return;
  }
  pk.pack_array(static_cast<uint32_t>(sizes[dim]));
  for (int64_t i = 0; i < sizes[dim]; ++i) pack_tensor(pk, p, sizes, dim + 1);
}

msgpack::sbuffer answer_inference(const Fields& f, Runtime& runtime) {
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
  const auto elapsed = std::chrono::steady_clock::now() - start;
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 4, "result", f.request_id);
  pk.pack(std::string("result"));
  pk.pack_map(1);
  pk.pack(std::string("inference"));
  const double* p = out.data_ptr<double>();
  pack_tensor(pk, p, out.sizes(), 0);
  pk.pack(std::string("time_ms"));
  pk.pack_double(std::chrono::duration<double, std::milli>(elapsed).count());
  return buf;
}

// /proc reports kB; the frame carries bytes like pytorch_inference's stats.
uint64_t proc_status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string name;
  while (in >> name) {
    if (name == field + ":") {
      uint64_t kb = 0;
      if (in >> kb) return kb;
      break;
    }
    in.ignore(1 << 16, '\n');
  }
  throw RequestError("cannot read " + field + " from /proc/self/status");
}

msgpack::sbuffer answer_stats(const std::string& id) {
  uint64_t rss = proc_status_kb("VmRSS") * 1024;
  uint64_t max_rss = proc_status_kb("VmHWM") * 1024;
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 3, "stats", id);
  pk.pack(std::string("stats"));
  pk.pack_map(2);
  pk.pack(std::string("memory_rss"));
  pk.pack(rss);
  pk.pack(std::string("memory_max_rss"));
  pk.pack(max_rss);
  return buf;
}

// control 0 (clear cache) has nothing to clear here: a forward keeps no
// cache between requests, so it is acknowledged as done.
msgpack::sbuffer answer_control(const Fields& f) {
  const msgpack::object& c = *f.control;
  if (c.type == msgpack::type::NEGATIVE_INTEGER) {
    throw RequestError("unknown control value " + std::to_string(c.via.i64));
  }
  if (c.type != msgpack::type::POSITIVE_INTEGER) {
    throw RequestError("control is not an integer" + got(c));
  }
  if (c.via.u64 == 1) return answer_stats(f.request_id);
  if (c.via.u64 != 0) throw RequestError("unknown control value " + std::to_string(c.via.u64));
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 2, "ack", f.request_id);
  return buf;
}

}  // namespace

msgpack::sbuffer encode_loaded(uint64_t bytes, const std::string& sha256, double ms) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_map(4);
  pk.pack(std::string("type"));
  pk.pack(std::string("loaded"));
  pk.pack(std::string("bytes"));
  pk.pack(bytes);
  pk.pack(std::string("sha256"));
  pk.pack(sha256);
  pk.pack(std::string("ms"));
  pk.pack_double(ms);
  return buf;
}

msgpack::sbuffer handle_request(const msgpack::object& request, Runtime& runtime) {
  std::string id;
  try {
    Fields f = read_fields(request, id);
    return f.tokens ? answer_inference(f, runtime) : answer_control(f);
  } catch (const RequestError& e) {
    return encode_error(id, e.what());
  }
}

msgpack::unpack_limit request_limits() {
  const size_t kArray = size_t{1} << 24;  // elements per array (tokens per row)
  const size_t kMap = size_t{1} << 16;
  const size_t kBlob = size_t{64} << 20;  // str, bin and ext bytes
  const size_t kDepth = 64;
  return msgpack::unpack_limit(kArray, kMap, kBlob, kBlob, kBlob, kDepth);
}

}  // namespace ntorch
