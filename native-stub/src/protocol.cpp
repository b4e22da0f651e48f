#include "protocol.hpp"

#include <chrono>
#include <vector>

namespace stub {
namespace {

using feeder::got;
using feeder::RequestError;

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

void check_model(const feeder::ModelBytes& model) {
  if (model.size == 0) throw RequestError("no model loaded (model size is 0)");
  if (model.data == nullptr) throw RequestError("model discarded (--discard)");
}

void pack_inference(feeder::Packer& pk, const msgpack::object_array& rows,
                    const std::vector<const msgpack::object*>& args,
                    const feeder::ModelBytes& model) {
  pk.pack_array(rows.size);
  for (uint32_t b = 0; b < rows.size; ++b) {
    const msgpack::object_array& row = rows.ptr[b].via.array;
    pk.pack_array(row.size);
    for (uint32_t i = 0; i < row.size; ++i) {
      uint64_t t = row.ptr[i].via.u64;
      pk.pack_array(static_cast<uint32_t>(1 + args.size()));
      pk.pack_double(static_cast<double>(model.data[t % model.size]) / 255.0);
      for (const msgpack::object* arg : args) {
        pk.pack_double(static_cast<double>(arg->via.array.ptr[b].via.array.ptr[i].via.u64));
      }
    }
  }
}

}  // namespace

// A test can recover every model byte from the answer and prove it arrived in
// place, and see each argument it passed.
msgpack::sbuffer answer_inference(const feeder::Request& r, const feeder::ModelBytes& model) {
  const auto start = std::chrono::steady_clock::now();
  check_tokens(*r.tokens);
  std::vector<const msgpack::object*> args;
  for (int a = 0; a < 3; ++a) {
    if (r.args[a] == nullptr) continue;
    check_arg(*r.args[a], *r.tokens, feeder::kArgKeys[a]);
    args.push_back(r.args[a]);
  }
  check_model(model);
  return feeder::encode_result(
      r.id, [&](feeder::Packer& pk) { pack_inference(pk, r.tokens->via.array, args, model); },
      start);
}

}  // namespace stub
