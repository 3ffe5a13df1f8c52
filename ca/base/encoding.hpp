#pragma once
// Text encodings of bytes: hex, base64 (RFC 4648 §4 and §5) and PEM (RFC 7468, strict).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/base/file.hpp"

namespace sigil {

std::string to_hex(std::span<const std::uint8_t> b);  // lower case
Result<Bytes> from_hex(std::string_view hex);
// RFC 3986 percent-encoding: every byte but the unreserved characters (ALPHA DIGIT - . _ ~) and
// those in `keep` becomes %XX (upper case).
std::string percent_encode(std::string_view in, std::string_view keep = {});

std::string base64_encode(std::span<const std::uint8_t> b);
Result<Bytes> base64_decode(std::string_view text);             // ignores no whitespace; padding required
std::string base64url_encode(std::span<const std::uint8_t> b);  // no padding
Result<Bytes> base64url_decode(std::string_view text);          // padding refused

struct PemBlock {
  std::string label;  // "CERTIFICATE", "CERTIFICATE REQUEST", ...
  Bytes der;
};
std::string pem_encode(std::string_view label, std::span<const std::uint8_t> der);
// All blocks in order; text outside blocks is allowed (explanatory text, RFC 7468 §2).
// A block that is opened and not closed, mislabeled or with bad base64 is an error.
Result<std::vector<PemBlock>> pem_decode_all(std::string_view text);
// Exactly one block with this label (others are an error).
Result<Bytes> pem_decode_one(std::string_view text, std::string_view label);

}  // namespace sigil
