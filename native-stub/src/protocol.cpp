#include "protocol.hpp"

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace stub {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// Thrown while validating a request; turned into an error frame.
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Fields {
  std::string request_id;
  const msgpack::object* tokens = nullptr;
  const msgpack::object* control = nullptr;
  // arg_1..arg_3 as given (nullptr when absent), in order.
  const msgpack::object* args[3] = {nullptr, nullptr, nullptr};
};

const char* const kArgNames[3] = {"arg_1", "arg_2", "arg_3"};

void pack_str(Packer& pk, const std::string& s) { pk.pack(s); }

void pack_head(Packer& pk, uint32_t entries, const char* type, const std::string& id) {
  pk.pack_map(entries);
  pack_str(pk, "type");
  pack_str(pk, type);
  pack_str(pk, "request_id");
  pack_str(pk, id);
}

msgpack::sbuffer encode_error(const std::string& id, const std::string& message) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 3, "error", id);
  pack_str(pk, "error");
  pk.pack_map(1);
  pack_str(pk, "error");
  pack_str(pk, message);
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

// Extracts request_id even when the rest is malformed, so error frames can
// still be correlated by the daemon.
Fields read_fields(const msgpack::object& req, std::string& id_for_errors) {
  if (req.type != msgpack::type::MAP) throw RequestError("request is not a map" + got(req));
  Fields f;
  const msgpack::object* id = nullptr;
  for (uint32_t i = 0; i < req.via.map.size; ++i) {
    const msgpack::object_kv& kv = req.via.map.ptr[i];
    std::string key = key_of(kv.key);
    if (key == "request_id") id = &kv.val;
    if (key == "tokens") f.tokens = &kv.val;
    if (key == "control") f.control = &kv.val;
    for (int a = 0; a < 3; ++a) {
      if (key == kArgNames[a]) f.args[a] = &kv.val;
    }
  }
  if (id == nullptr) throw RequestError("missing request_id");
  if (id->type != msgpack::type::STR) throw RequestError("request_id is not a string" + got(*id));
  f.request_id.assign(id->via.str.ptr, id->via.str.size);
  id_for_errors = f.request_id;
  if (f.tokens && f.control) throw RequestError("request has both tokens and control");
  if (!f.tokens && !f.control) throw RequestError("request has neither tokens nor control");
  return f;
}

void check_tokens(const msgpack::object& tokens, const std::string& name = "tokens") {
  if (tokens.type != msgpack::type::ARRAY) {
    throw RequestError(name + " is not an array" + got(tokens));
  }
  for (uint32_t b = 0; b < tokens.via.array.size; ++b) {
    const msgpack::object& row = tokens.via.array.ptr[b];
    std::string where = name + "[" + std::to_string(b) + "]";
    if (row.type != msgpack::type::ARRAY) throw RequestError(where + " is not an array" + got(row));
    for (uint32_t i = 0; i < row.via.array.size; ++i) {
      const msgpack::object& t = row.via.array.ptr[i];
      std::string at = where + "[" + std::to_string(i) + "]";
      if (t.type == msgpack::type::NEGATIVE_INTEGER) throw RequestError(at + " is negative");
      if (t.type != msgpack::type::POSITIVE_INTEGER) {
        throw RequestError(at + " is not an integer" + got(t));
      }
    }
  }
}

// An argument has the shape of tokens: same rows, same lengths.
void check_arg(const msgpack::object& arg, const msgpack::object& tokens, const std::string& name) {
  check_tokens(arg, name);
  const msgpack::object_array& rows = tokens.via.array;
  if (arg.via.array.size != rows.size) {
    throw RequestError(name + " has " + std::to_string(arg.via.array.size) + " rows, tokens " +
                       std::to_string(rows.size));
  }
  for (uint32_t b = 0; b < rows.size; ++b) {
    if (arg.via.array.ptr[b].via.array.size != rows.ptr[b].via.array.size) {
      throw RequestError(name + "[" + std::to_string(b) + "] is not as long as tokens[" +
                         std::to_string(b) + "]");
    }
  }
}

void check_model(const Model& model) {
  if (model.discarded) throw RequestError("model discarded (--discard)");
  if (model.size == 0) throw RequestError("no model loaded (model size is 0)");
}

// inference[b][i] = [model[t mod size] / 255.0, arg_1[b][i], ...]: a test can
// recover every model byte from the answer and prove it arrived in place,
// and see each argument it passed.
msgpack::sbuffer answer_inference(const Fields& f, const Model& model) {
  const auto start = std::chrono::steady_clock::now();
  check_tokens(*f.tokens);
  std::vector<const msgpack::object*> args;
  for (int a = 0; a < 3; ++a) {
    if (f.args[a] == nullptr) continue;
    check_arg(*f.args[a], *f.tokens, kArgNames[a]);
    args.push_back(f.args[a]);
  }
  check_model(model);
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 4, "result", f.request_id);
  pack_str(pk, "result");
  pk.pack_map(1);
  pack_str(pk, "inference");
  const msgpack::object_array& rows = f.tokens->via.array;
  pk.pack_array(rows.size);
  for (uint32_t b = 0; b < rows.size; ++b) {
    const msgpack::object_array& row = rows.ptr[b].via.array;
    pk.pack_array(row.size);
    for (uint32_t i = 0; i < row.size; ++i) {
      uint64_t t = row.ptr[i].via.u64;
      pk.pack_array(static_cast<uint32_t>(1 + args.size()));
      pk.pack_double(static_cast<double>(model.bytes[t % model.size]) / 255.0);
      for (const msgpack::object* arg : args) {
        pk.pack_double(static_cast<double>(arg->via.array.ptr[b].via.array.ptr[i].via.u64));
      }
    }
  }
  pack_str(pk, "time_ms");
  auto elapsed = std::chrono::steady_clock::now() - start;
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
  pack_str(pk, "stats");
  pk.pack_map(2);
  pack_str(pk, "memory_rss");
  pk.pack(rss);
  pack_str(pk, "memory_max_rss");
  pk.pack(max_rss);
  return buf;
}

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
  pack_str(pk, "type");
  pack_str(pk, "loaded");
  pack_str(pk, "bytes");
  pk.pack(bytes);
  pack_str(pk, "sha256");
  pack_str(pk, sha256);
  pack_str(pk, "ms");
  pk.pack_double(ms);
  return buf;
}

msgpack::sbuffer handle_request(const msgpack::object& request, const Model& model) {
  std::string id;
  try {
    Fields f = read_fields(request, id);
    return f.tokens ? answer_inference(f, model) : answer_control(f);
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

}  // namespace stub
