#pragma once
// The ACME client `sigil renew` uses (RFC 8555 with RFC 9773 renewalInfo and `replaces`): an
// account kept in a directory (created on first use, EAB supported), http-01 answered by a
// listener of its own.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ca/crypto/crypto.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::acme::client {

struct AcmeClientOptions {
  std::string directory_url;  // https://ca:8443/acme/directory
  std::string ca_pem;         // trust anchors for the ACME server
  std::filesystem::path account_dir;
  std::string eab_kid, eab_hmac;  // first use only (base64url HMAC key)
  std::string contact;            // "mailto:..." or ""
  std::string http01_listen = "0.0.0.0:80";
};

struct Renewed {
  std::string serial;
  std::string chain_pem;  // leaf first
};

class AcmeClient {
 public:
  static Result<std::unique_ptr<AcmeClient>> connect(AcmeClientOptions options);
  ~AcmeClient();
  // The server's suggested window for `cert` (nullopt when it offers no renewalInfo).
  Result<std::optional<policy::RenewalWindow>> renewal_info(const crypto::Certificate& cert);
  // A new certificate for the names of `cert`, with the key of `csr_key`, replacing `cert`.
  Result<Renewed> renew(const crypto::Certificate& cert, const crypto::Signer& csr_key);

  struct Impl;

 private:
  explicit AcmeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial).
Result<std::string> ari_cert_id(const crypto::Certificate& cert);

}  // namespace sigil::acme::client
