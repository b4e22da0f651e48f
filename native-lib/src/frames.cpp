#include "feeder/frames.hpp"

#include <fstream>

namespace feeder {
namespace {

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

std::string key_of(const msgpack::object& key) {
  if (key.type != msgpack::type::STR) return {};
  return std::string(key.via.str.ptr, key.via.str.size);
}

void note_key(Request& r, const std::string& key, const msgpack::object* value) {
  if (key == "tokens") r.tokens = value;
  if (key == "control") r.control = value;
  for (int i = 0; i < 3; ++i) {
    if (key == kArgKeys[i]) r.args[i] = value;
  }
}

// Extracts request_id even when the rest is malformed, so error frames can
// still be correlated by the daemon.
Request read_request(const msgpack::object& req, std::string& id_for_errors) {
  if (req.type != msgpack::type::MAP) throw RequestError("request is not a map" + got(req));
  Request r;
  const msgpack::object* id = nullptr;
  for (uint32_t i = 0; i < req.via.map.size; ++i) {
    const msgpack::object_kv& kv = req.via.map.ptr[i];
    std::string key = key_of(kv.key);
    if (key == "request_id") id = &kv.val;
    note_key(r, key, &kv.val);
  }
  if (id == nullptr) throw RequestError("missing request_id");
  if (id->type != msgpack::type::STR) throw RequestError("request_id is not a string" + got(*id));
  r.id.assign(id->via.str.ptr, id->via.str.size);
  id_for_errors = r.id;
  if (r.tokens && r.control) throw RequestError("request has both tokens and control");
  if (!r.tokens && !r.control) throw RequestError("request has neither tokens nor control");
  return r;
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

// control 0 (clear the cache) is acknowledged: neither process keeps a cache
// between requests.
msgpack::sbuffer answer_control(const Request& r) {
  const msgpack::object& c = *r.control;
  if (c.type == msgpack::type::NEGATIVE_INTEGER) {
    throw RequestError("unknown control value " + std::to_string(c.via.i64));
  }
  if (c.type != msgpack::type::POSITIVE_INTEGER) {
    throw RequestError("control is not an integer" + got(c));
  }
  if (c.via.u64 == 1) return answer_stats(r.id);
  if (c.via.u64 != 0) throw RequestError("unknown control value " + std::to_string(c.via.u64));
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 2, "ack", r.id);
  return buf;
}

}  // namespace

const char* const kArgKeys[3] = {"arg_1", "arg_2", "arg_3"};

std::string got(const msgpack::object& value) {
  return std::string(" (got ") + type_name(value.type) + ")";
}

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

msgpack::sbuffer encode_result(const std::string& id,
                               const std::function<void(Packer&)>& pack_inference,
                               std::chrono::steady_clock::time_point start) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_head(pk, 4, "result", id);
  pk.pack(std::string("result"));
  pk.pack_map(1);
  pk.pack(std::string("inference"));
  pack_inference(pk);
  pk.pack(std::string("time_ms"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  pk.pack_double(std::chrono::duration<double, std::milli>(elapsed).count());
  return buf;
}

msgpack::sbuffer handle_request(const msgpack::object& request, const Inference& infer) {
  std::string id;
  try {
    Request r = read_request(request, id);
    return r.tokens ? infer(r) : answer_control(r);
  } catch (const RequestError& e) {
    return encode_error(id, e.what());
  }
}

}  // namespace feeder
