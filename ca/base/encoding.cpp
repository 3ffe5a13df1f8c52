#include "ca/base/encoding.hpp"

#include <array>

namespace sigil {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string b64(std::span<const std::uint8_t> b, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{b[i]} << 16) | (std::uint32_t{b[i + 1]} << 8) | b[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const std::size_t rest = b.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{b[i]} << 16;
    if (rest == 2) v |= std::uint32_t{b[i + 1]} << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (rest == 2) out += alphabet[(v >> 6) & 63];
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

Result<Bytes> unb64(std::string_view text, const char* alphabet, bool padded) {
  std::array<int, 256> rev{};
  rev.fill(-1);
  for (int i = 0; i < 64; ++i) rev[static_cast<unsigned char>(alphabet[i])] = i;
  auto bad = [] { return make_error(Errc::malformed, "invalid base64"); };
  std::size_t n = text.size();
  if (padded) {
    if (n % 4 != 0) return bad();
    if (n >= 1 && text[n - 1] == '=') --n;
    if (n >= 1 && text[n - 1] == '=') --n;
  } else if (n % 4 == 1) {
    return bad();
  }
  Bytes out;
  out.reserve(n * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int v = rev[static_cast<unsigned char>(text[i])];
    if (v < 0) return bad();
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return bad();
  return out;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> b) {
  std::string out;
  out.reserve(b.size() * 2);
  for (std::uint8_t c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string percent_encode(std::string_view in, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : in) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<Bytes> from_hex(std::string_view hex) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return make_error(Errc::malformed, "odd-length hex");
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nib(hex[2 * i]);
    const int lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return make_error(Errc::malformed, "invalid hex digit");
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string base64_encode(std::span<const std::uint8_t> b) { return b64(b, kB64, true); }
Result<Bytes> base64_decode(std::string_view t) { return unb64(t, kB64, true); }
std::string base64url_encode(std::span<const std::uint8_t> b) { return b64(b, kB64Url, false); }
Result<Bytes> base64url_decode(std::string_view t) {
  if (t.find('=') != std::string_view::npos) return make_error(Errc::malformed, "base64url must not be padded");
  return unb64(t, kB64Url, false);
}

std::string pem_encode(std::string_view label, std::span<const std::uint8_t> der) {
  const std::string body = base64_encode(der);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < body.size(); i += 64) out += body.substr(i, 64) + "\n";
  out += "-----END " + std::string(label) + "-----\n";
  return out;
}

Result<std::vector<PemBlock>> pem_decode_all(std::string_view text) {
  std::vector<PemBlock> blocks;
  constexpr std::string_view kBegin = "-----BEGIN ";
  constexpr std::string_view kDashes = "-----";
  std::size_t pos = 0;
  while ((pos = text.find(kBegin, pos)) != std::string_view::npos) {
    const std::size_t label_start = pos + kBegin.size();
    const std::size_t label_end = text.find(kDashes, label_start);
    if (label_end == std::string_view::npos) return make_error(Errc::malformed, "PEM: unterminated BEGIN line");
    std::string label(text.substr(label_start, label_end - label_start));
    if (label.find('\n') != std::string::npos) return make_error(Errc::malformed, "PEM: bad BEGIN line");
    const std::string end_line = "-----END " + label + "-----";
    const std::size_t body_start = label_end + kDashes.size();
    const std::size_t end = text.find(end_line, body_start);
    if (end == std::string_view::npos) return make_error(Errc::malformed, "PEM: missing " + end_line);
    std::string body;
    for (char c : text.substr(body_start, end - body_start)) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
      if (c == ':') return make_error(Errc::malformed, "PEM: headers (legacy encrypted PEM) not supported");
      body += c;
    }
    auto der = base64_decode(body);
    if (!der) return make_error(Errc::malformed, "PEM: invalid base64 in " + label);
    if (der->empty()) return make_error(Errc::malformed, "PEM: empty " + label);
    blocks.push_back(PemBlock{std::move(label), std::move(*der)});
    pos = end + end_line.size();
  }
  return blocks;
}

Result<Bytes> pem_decode_one(std::string_view text, std::string_view label) {
  SIGIL_TRY(auto blocks, pem_decode_all(text));
  if (blocks.size() != 1 || blocks[0].label != label) {
    return make_error(Errc::malformed, "expected exactly one PEM block '" + std::string(label) + "'");
  }
  return std::move(blocks[0].der);
}

}  // namespace sigil
