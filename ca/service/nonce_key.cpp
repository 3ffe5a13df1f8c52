#include "ca/service/nonce_key.hpp"

#include "acme/jws/nonce.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::service {

fs::path nonce_key_path(const Home& home) { return home.ca_dir() / "acme-nonce.key"; }

std::string new_nonce_key_file() {
  return "# Sigil's ACME nonce key: Replay-Nonce values are MACed with it (RFC 8555 section 6.5).\n"
         "# Every node of a cluster must have this same file in its home (mode 0600), or a nonce\n"
         "# one node issued is refused as badNonce by another. Keep it secret.\n" +
         base64url_encode(crypto::random_bytes(acme::jws::kNonceKeySize)) + "\n";
}

namespace {
Result<Bytes> parse_key(const std::string& text, const fs::path& file) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    auto key = base64url_decode(line);
    if (!key || key->size() != acme::jws::kNonceKeySize) break;
    return *key;
  }
  return make_error(Errc::invalid_argument, file.string() + ": not an ACME nonce key (" +
                                                std::to_string(acme::jws::kNonceKeySize) + " bytes, base64url)");
}
}  // namespace

Result<Bytes> load_or_create_nonce_key(const Home& home) {
  const fs::path file = nonce_key_path(home);
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    // write_file_new: two processes starting on one home at once keep one key, not two.
    auto made = write_file_new(file, new_nonce_key_file(), kPrivateMode);
    if (made)
      log::warn("created the ACME nonce key; copy it to every other node of this cluster", {{"file", file.string()}});
    else if (made.error().code != Errc::already_exists)
      return made.error();
  }
  SIGIL_TRY(std::string text, read_file(file, 4096));
  return parse_key(text, file);
}

}  // namespace sigil::service
