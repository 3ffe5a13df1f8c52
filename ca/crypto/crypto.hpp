#pragma once
// The OpenSSL boundary: keys, the Signer interface, signature verification, randomness.
// No OpenSSL header is visible from here; callers see plain types.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ca/base/error.hpp"
#include "ca/crypto/x509.hpp"

namespace sigil::crypto {

// What key to generate.
enum class KeyType { ec_p256, ec_p384, ed25519, rsa_2048, rsa_3072, rsa_4096 };
Result<KeyType> parse_key_type(std::string_view name);  // "ec-p256", ..., "rsa-4096"
std::string_view to_string(KeyType t);
inline constexpr std::string_view kKeyTypeNames = "ec-p256|ec-p384|ed25519|rsa-2048|rsa-3072|rsa-4096";

// PBKDF2-HMAC-SHA256 iterations for an encrypted private key (the offline root's): OWASP's 2023
// figure. Not scrypt: OpenSSL 3.0 caps scrypt at 32 MiB both when writing and when reading
// PKCS#8, so the memory-hard N = 2^17, r = 8 (128 MiB) file could not be opened with the stock
// `openssl pkey` in a recovery. Keys written with fewer iterations still load.
inline constexpr int kKeyEncryptionIterations = 600000;

// The only code that touches a private key. Thread-safe. A key file today, PKCS#11 later.
class Signer {
 public:
  virtual ~Signer() = default;
  virtual const PublicKey& public_key() const = 0;
  virtual SignatureAlgorithm signature_algorithm() const = 0;
  virtual Result<Bytes> sign(ByteView data) const = 0;
};

// A private key held in memory (loaded from, or written to, a PKCS#8 PEM file).
class KeySigner final : public Signer {
 public:
  static Result<std::unique_ptr<KeySigner>> generate(KeyType type);
  // `passphrase` is needed for "ENCRYPTED PRIVATE KEY"; a wrong one is Errc::unauthorized.
  static Result<std::unique_ptr<KeySigner>> from_pem(std::string_view pem,
                                                     std::optional<std::string_view> passphrase = std::nullopt);
  ~KeySigner() override;

  // PKCS#8 PEM; with a passphrase, encrypted: PBES2 with PBKDF2-HMAC-SHA256 at
  // kKeyEncryptionIterations, a random 16-byte salt, AES-256-CBC.
  Result<std::string> to_pem(std::optional<std::string_view> passphrase = std::nullopt) const;

  const PublicKey& public_key() const override { return public_key_; }
  SignatureAlgorithm signature_algorithm() const override { return alg_; }
  Result<Bytes> sign(ByteView data) const override;

  struct Impl;

 private:
  KeySigner(std::unique_ptr<Impl> impl, PublicKey public_key);
  static Result<std::unique_ptr<KeySigner>> adopt(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  PublicKey public_key_;
  SignatureAlgorithm alg_;
};

// Verifies `signature` over `data`. Errc::bad_csr-neutral: returns Errc::crypto only for
// internal failures and Errc::unauthorized when the signature does not verify.
Status verify_signature(const PublicKey& key, SignatureAlgorithm alg, ByteView data, ByteView signature);
Status verify_issued_by(const Certificate& cert, const Certificate& issuer);
// The key is usable: an EC point on its curve, an RSA key OpenSSL accepts. bad_public_key otherwise.
Status check_public_key(const PublicKey& key);

// A signed CSR for `signer`'s key.
Result<Bytes> make_csr(const Signer& signer, ByteView subject_name, const std::vector<GeneralName>& sans);

// A PKCS#12 trust store of `anchors` (certificates only; Java sees trusted certificate entries),
// integrity-protected with `password`.
Result<Bytes> trust_store_pkcs12(const std::vector<const Certificate*>& anchors, const std::string& password);

Bytes random_bytes(std::size_t n);  // OpenSSL CSPRNG; aborts if the RNG fails
Bytes sha256(ByteView data);
Bytes hmac_sha256(ByteView key, ByteView data);
bool constant_time_equal(ByteView a, ByteView b);  // false on different lengths

}  // namespace sigil::crypto
