#pragma once
// Keys in a PKCS#11 token (an HSM, a smart card, SoftHSM), named by RFC 7512 URIs. The PKCS#11 C
// API is called directly: the module named by the URI is dlopen'ed, initialised once per process
// (C_Finalize at exit) and shared by every key it holds. No OpenSSL engine or provider: the
// digest is computed here, the signature is made in the token.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ca/base/error.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::crypto::pkcs11 {

// An RFC 7512 URI. Path attributes select the token and the object; query attributes say where
// the module is and where the PIN comes from. Unknown attributes are refused: a misspelt
// "tokne=" would otherwise match every token.
struct Uri {
  // Token (slot) selection.
  std::optional<std::string> token, manufacturer, serial, model;
  std::optional<std::string> slot_description, slot_manufacturer;
  std::optional<std::uint64_t> slot_id;
  std::optional<std::string> library_manufacturer, library_description, library_version;
  // Object selection: CKA_LABEL, CKA_ID, object class.
  std::optional<std::string> object;
  std::optional<Bytes> id;
  std::optional<std::string> type;  // "private", "public", "cert", "secret-key", "data"
  // Query attributes.
  std::string module_path, module_name;
  std::string pin_source;                // a file (a "file:" URI or a plain path)
  std::optional<std::string> pin_value;  // never printed; never written by to_string()

  // The URI in canonical form without pin-value (what Sigil stores beside the certificate).
  std::string to_string() const;
};

inline constexpr std::string_view kScheme = "pkcs11:";
bool is_uri(std::string_view text);  // begins with "pkcs11:" (case-insensitively)
// Errors never echo pin-value.
Result<Uri> parse_uri(std::string_view text);

// A private key in a token. Sign-only: the key never leaves the token. Thread-safe; concurrent
// sign() calls use separate sessions (a pool, up to max_sessions), so a token that signs in
// parallel does. A session the token dropped (removed, reset) is discarded and a new one is opened
// on the next call, so a token that comes back is used again without a restart.
class Pkcs11Signer final : public Signer {
 public:
  struct Impl;
  ~Pkcs11Signer() override;
  const PublicKey& public_key() const override { return public_key_; }
  SignatureAlgorithm signature_algorithm() const override { return alg_; }
  // ECDSA over a digest computed here (r||s from the token, re-encoded as ECDSA-Sig-Value), or
  // RSA PKCS#1 v1.5 over a DigestInfo. A token that is gone is Errc::unavailable.
  Result<Bytes> sign(ByteView data) const override;
  // RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (CKM_RSA_PKCS_PSS), for an RSA key.
  // No certificate profile signs with PSS today (SignatureAlgorithm has no PSS identifier).
  Result<Bytes> sign_pss_sha256(ByteView data) const;
  // The token's label and the object's CKA_ID, for messages.
  std::string describe() const;

 private:
  friend struct Access;
  Pkcs11Signer(std::unique_ptr<Impl> impl, PublicKey key);
  std::unique_ptr<Impl> impl_;
  PublicKey public_key_;
  SignatureAlgorithm alg_;
};

struct OpenOptions {
  // Generate the key pair in the token when no object matches (CKA_TOKEN, CKA_PRIVATE,
  // CKA_SENSITIVE, not extractable, CKA_SIGN; label and CKA_ID from the URI).
  std::optional<KeyType> generate;
  int max_sessions = 8;
};

// Opens the private key `uri` names. Errors: no module (Errc::not_found), no matching token or
// object (Errc::not_found), wrong PIN (Errc::unauthorized), more than one object matching
// (Errc::invalid_argument), a token error (Errc::unavailable).
// The PIN: pin-value, else the file pin-source names, else $SIGIL_PKCS11_PIN; none: no login.
Result<std::unique_ptr<Pkcs11Signer>> open_key(const Uri& uri, const OpenOptions& options = {});
// The module loads, the token is present, a PIN is given and it logs in (what a command checks
// before it makes anything). The same errors as open_key.
Status check_token(const Uri& uri);

}  // namespace sigil::crypto::pkcs11
