#pragma once
// The client-certificate check behind every mTLS handshake: which certificates the listeners
// accept (trust anchors), and whether a verified leaf may be used (issued by this CA, same DER,
// not revoked; or issued directly by an external CA of tls.client_trust_anchors).
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/crypto/x509.hpp"

namespace sigil::authz {

// What client certificates the listeners accept: PEM of the trust anchors for OpenSSL's chain
// verification, and the key identifiers of the external CAs (tls.client_trust_anchors).
struct ClientTrust {
  std::string anchors_pem;
  std::vector<Bytes> external_key_ids;
};

// A file of external CA certificates: its name (for errors) and its PEM.
struct ExternalAnchors {
  std::string name;
  std::string pem;
};
// Sigil's own CA certificates as PEM (roots, then every intermediate answering: clients that
// send only their leaf still verify), then the external CAs, each of which must be a CA
// certificate with a subjectKeyIdentifier.
Result<ClientTrust> client_trust(std::string own_cas_pem, const std::vector<ExternalAnchors>& external);

// The record this CA keeps of a certificate it issued, found by serial (hex).
struct IssuedRecord {
  enum class State { valid, revoked, other };
  Bytes der;
  State state = State::other;
};
using IssuedLookup = std::function<Result<std::optional<IssuedRecord>>(const std::string& serial_hex)>;

// Hard-fail revocation on every handshake: the certificate must be one this CA issued (same
// DER) and not revoked. The one exception is a leaf issued directly by a CA of
// tls.client_trust_anchors (its authorityKeyIdentifier is that CA's key): Sigil holds no
// revocation data for it, and its chain has been verified. A lookup error refuses.
std::function<Status(const crypto::Certificate&)> client_check(IssuedLookup lookup, std::vector<Bytes> external);

}  // namespace sigil::authz
