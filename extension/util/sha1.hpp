#pragma once
// SHA-1 (FIPS 180-4). Metaflow names CAS blobs by the SHA-1 of their uncompressed bytes, and the
// oracle fingerprints large values by it; neither use is about security.
#include <cstdint>
#include <string>
#include <string_view>

namespace mfsql {

// Incremental form, for data that arrives in pieces.
class Sha1 {
 public:
  Sha1();
  void update(std::string_view data);
  std::string hex_digest();  // 40 lowercase hex digits; the object is spent afterwards

 private:
  void compress(const unsigned char* block);
  uint32_t state_[5];
  uint64_t length_ = 0;  // bytes seen
  unsigned char buffer_[64];
  size_t buffered_ = 0;
};

std::string sha1_hex(std::string_view data);

}  // namespace mfsql
