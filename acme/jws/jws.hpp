#pragma once
// JWS and JWK as ACME uses them (RFC 8555 §6.2, RFC 7515, RFC 7517, RFC 7638): the flattened
// JSON serialization only, one signature, a protected header with alg, nonce, url and exactly
// one of jwk or kid. Verification goes through ca/crypto; nothing here touches OpenSSL.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ca/base/error.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/der.hpp"

namespace sigil::acme::jws {

using ByteView = crypto::der::ByteView;

// The algorithms accepted for account keys, as a JSON array for badSignatureAlgorithm's
// "algorithms" member (RFC 8555 §6.2).
inline constexpr std::string_view kAlgorithms = R"(["ES256","ES384","RS256","EdDSA"])";

struct Jwk {
  crypto::PublicKey key;
  std::string canonical;   // RFC 7638 §3: the required members, sorted, no whitespace
  std::string thumbprint;  // base64url(SHA-256(canonical))
};
// A public JWK: EC (P-256, P-384), RSA, OKP (Ed25519). Private members are refused (malformed);
// a key below policy is bad_public_key.
Result<Jwk> parse_jwk(std::string_view json_text);

// parse_jwk for stored account keys, remembered by their JWK text: an account signs every
// request with the same key, and parsing it (JSON, the point check, the thumbprint) cost more
// than verifying the signature. A key's text is its canonical form, so one text is one key; a
// changed key (rollover) is a new text. Refused texts are not remembered. When `capacity` keys
// are held, the next new one starts the cache afresh. Thread-safe.
class JwkCache {
 public:
  explicit JwkCache(std::size_t capacity = 4096) : capacity_(capacity) {}
  Result<std::shared_ptr<const Jwk>> parse(const std::string& json_text);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Jwk>> keys_;
  std::size_t capacity_;
};

struct Header {
  std::string alg;
  std::string nonce;
  std::string url;
  std::optional<Jwk> jwk;
  std::string kid;
};

struct Jws {
  Header header;
  std::string protected_b64;
  std::string payload_b64;
  std::string payload;  // decoded; empty for POST-as-GET
  Bytes signature;
  bool post_as_get() const { return payload_b64.empty(); }
  std::string signing_input() const { return protected_b64 + "." + payload_b64; }
};

// Structure only (no signature check): flattened JSON with "protected", "payload" and
// "signature"; no unprotected "header", no "signatures"; alg one of kAlgorithms
// (bad_signature_algorithm otherwise, including "none" and HMACs); nonce and url present;
// exactly one of jwk and kid; b64 and crit refused.
Result<Jws> parse(std::string_view body);

// Checks the signature with `key` (the header's jwk, or the account's stored key); the alg
// must fit the key (ES256 with P-256, ES384 with P-384, RS256 with RSA, EdDSA with Ed25519).
// malformed when it does not verify.
Status verify(const Jws& jws, const crypto::PublicKey& key);

// RFC 8555 §8.1: token "." thumbprint.
std::string key_authorization(std::string_view token, const std::string& thumbprint);

// External account binding (RFC 8555 §7.3.4): a JWS with alg HS256, kid, url equal to
// `new_account_url`, payload the account's JWK (same key as `account_key`), MAC by the
// key that `lookup(kid)` returns (not_found when unknown). Returns the kid.
Result<std::string> verify_eab(std::string_view eab_json, const Jwk& account_key, const std::string& new_account_url,
                               const std::function<Result<Bytes>(const std::string& kid)>& lookup);

// key rollover (RFC 8555 §7.3.5): the inner JWS of a keyChange request, signed by the new key
// (jwk in its header, no nonce), whose url equals the outer url and whose payload names the
// account and the old key. Returns the new key.
Result<Jwk> verify_key_change(std::string_view inner_json, const std::string& outer_url, const std::string& account_url,
                              const Jwk& old_key);

// The client side (the renewal agent): the public JWK of a key (canonical form), its JWS alg,
// and a flattened JWS over `protected_json` (which must carry alg) and `payload`.
std::string public_jwk(const crypto::PublicKey& key);
std::string alg_for(crypto::KeyAlgorithm key);
Result<std::string> sign(const crypto::Signer& signer, const std::string& protected_json, const std::string& payload);

// Raw ECDSA signature (r || s, JWS form) <-> DER ECDSA-Sig-Value (X.509 form).
Result<Bytes> ecdsa_raw_to_der(ByteView raw);
Result<Bytes> ecdsa_der_to_raw(ByteView der, std::size_t coordinate_size);

}  // namespace sigil::acme::jws
