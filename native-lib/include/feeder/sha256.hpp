// Incremental SHA-256 over OpenSSL's EVP API, so the digest is computed while
// bytes stream in rather than in a second pass over a multi-GiB buffer.
#pragma once

#include <cstddef>
#include <string>

struct evp_md_ctx_st;

namespace feeder {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t len);
  // Lowercase hex digest; call once, after the last update.
  std::string hex_digest();

 private:
  evp_md_ctx_st* ctx_;
};

}  // namespace feeder
