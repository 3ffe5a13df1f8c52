#pragma once
// X.509 certificates, CRLs and CSRs as plain data, encoded and parsed with the DER module.
// The issuance hot path lives here: no OpenSSL decoder or encoder runs per certificate.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/crypto/der.hpp"
#include "ca/crypto/extensions.hpp"

namespace sigil::crypto {

using der::ByteView;

// What a public key is.
enum class KeyAlgorithm { ec_p256, ec_p384, ed25519, rsa };
std::string_view to_string(KeyAlgorithm a);

struct PublicKey {
  KeyAlgorithm algorithm = KeyAlgorithm::ec_p256;
  int bits = 0;        // RSA modulus size, or the curve size
  Bytes spki;          // DER SubjectPublicKeyInfo, exactly as received
  Bytes key;           // subjectPublicKey BIT STRING contents (EC point, RSAPublicKey, raw Ed25519)
  Bytes rsa_modulus;   // big-endian, RSA only
  Bytes rsa_exponent;  // big-endian, RSA only
};
// Strict: known algorithms only (RSA, EC on P-256/P-384, Ed25519), no trailing bytes.
Result<PublicKey> parse_spki(ByteView der);
// RFC 7093 §2 method 1: leftmost 160 bits of SHA-256 over the subjectPublicKey bits.
Bytes key_identifier(const PublicKey& key);

enum class SignatureAlgorithm { ecdsa_sha256, ecdsa_sha384, ecdsa_sha512, ed25519, rsa_sha256, rsa_sha384, rsa_sha512 };
std::string_view to_string(SignatureAlgorithm a);
SignatureAlgorithm signature_algorithm_for(KeyAlgorithm key);
bool signature_fits_key(SignatureAlgorithm sig, KeyAlgorithm key);
Bytes algorithm_identifier(SignatureAlgorithm a);  // DER AlgorithmIdentifier
Result<SignatureAlgorithm> parse_algorithm_identifier(ByteView whole);

struct GeneralName {
  enum class Type { dns, ip, uri, email };
  Type type = Type::dns;
  std::string value;  // IP in text form ("10.0.0.1", "2001:db8::1")
  bool operator==(const GeneralName&) const = default;
};
std::string to_string(const GeneralName& n);                         // "dns:a.example", "ip:10.0.0.1", ...
Result<GeneralName> parse_general_name_text(std::string_view text);  // inverse of to_string
// IP text <-> 4 or 16 bytes.
Result<Bytes> ip_to_bytes(std::string_view text);
Result<std::string> ip_from_bytes(ByteView b);

// Names. Sigil writes only CN and O; it reads anything.
Bytes encode_name(std::string_view common_name, std::string_view organization = {});
Result<std::string> name_to_string(ByteView name_der);  // RFC 4514 order, e.g. "CN=a,O=b"
Result<std::optional<std::string>> name_common_name(ByteView name_der);
bool name_is_empty(ByteView name_der);

namespace ku {
constexpr std::uint32_t digital_signature = 1u << 0, content_commitment = 1u << 1, key_encipherment = 1u << 2,
                        data_encipherment = 1u << 3, key_agreement = 1u << 4, key_cert_sign = 1u << 5,
                        crl_sign = 1u << 6;
}
enum class Eku { server_auth, client_auth, ocsp_signing };

// nameConstraints (RFC 5280 §4.2.1.10) as Sigil reads and writes them.
struct NameConstraints {
  std::vector<GeneralName> permitted;  // dns: suffix, ip: "10.0.0.0/8", email/uri: domain
  std::vector<GeneralName> excluded;
};
// The extension value (name_constraints.cpp). IP subtrees are "addr/prefix" or a bare address.
Result<Bytes> encode_name_constraints(const NameConstraints& nc);
ByteView eku_oid(Eku e);

// Everything that goes into a to-be-signed certificate.
struct CertificateSpec {
  Bytes serial;  // big-endian, positive, <= 20 octets
  SignatureAlgorithm signature = SignatureAlgorithm::ecdsa_sha256;
  Bytes issuer;   // DER Name, the issuer's subject exactly
  Bytes subject;  // DER Name (may be an empty SEQUENCE)
  TimePoint not_before;
  TimePoint not_after;
  Bytes spki;  // DER SubjectPublicKeyInfo, copied verbatim
  bool is_ca = false;
  std::optional<int> path_len;     // CA only
  std::uint32_t key_usage = 0;     // ku:: bits
  std::vector<Eku> ext_key_usage;  // omitted when empty
  Bytes subject_key_id;
  Bytes authority_key_id;         // omitted when empty (self-signed root)
  std::vector<GeneralName> sans;  // SAN critical when subject is empty (RFC 5280 §4.2.1.6)
  std::vector<std::string> crl_urls;
  std::vector<std::string> freshest_crl_urls;  // FreshestCRL (RFC 5280 §4.2.1.15): where delta CRLs are
  std::vector<std::string> ocsp_urls;
  std::vector<std::string> ca_issuer_urls;
  bool ocsp_no_check = false;
  std::optional<NameConstraints> name_constraints;  // critical (a name-constrained CA)
};
Result<Bytes> encode_tbs(const CertificateSpec& spec);

// Certificate, CertificateList and CertificationRequest all are SEQUENCE { tbs, alg, BIT STRING }.
Bytes assemble_signed(ByteView tbs, SignatureAlgorithm alg, ByteView signature);

// A parsed to-be-signed certificate; views point into the bytes it was parsed from.
struct TbsView {
  int version = 0;         // 2 means v3
  ByteView serial;         // INTEGER contents
  ByteView signature_alg;  // whole AlgorithmIdentifier
  ByteView issuer;         // whole Name
  TimePoint not_before, not_after;
  ByteView subject;  // whole Name
  ByteView spki;     // whole SubjectPublicKeyInfo
  std::vector<Extension> extensions;
  const Extension* find(ByteView oid) const;
};
Result<TbsView> parse_tbs(ByteView tbs);

// An owned certificate with parsed views into its own bytes. Move-only (the views follow).
class Certificate {
 public:
  static Result<Certificate> from_der(Bytes der);
  static Result<Certificate> from_pem(std::string_view pem);  // exactly one CERTIFICATE
  Certificate(Certificate&&) = default;
  Certificate& operator=(Certificate&&) = default;
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  const Bytes& der() const { return der_; }
  std::string pem() const;
  ByteView tbs_der() const { return tbs_der_; }
  const TbsView& tbs() const { return tbs_; }
  SignatureAlgorithm signature_algorithm() const { return sig_alg_; }
  ByteView signature() const { return signature_; }
  std::string serial_hex() const;
  const PublicKey& public_key() const { return key_; }
  std::optional<Bytes> subject_key_id() const;
  bool is_ca() const;

 private:
  Certificate() = default;
  Bytes der_;
  ByteView tbs_der_;
  TbsView tbs_;
  SignatureAlgorithm sig_alg_ = SignatureAlgorithm::ecdsa_sha256;
  ByteView signature_;
  PublicKey key_;
};
Result<std::vector<Certificate>> certificates_from_pem(std::string_view pem);

// Extension value decoders (contents of extnValue).
struct BasicConstraints {
  bool ca = false;
  std::optional<std::int64_t> path_len;
};
Result<BasicConstraints> decode_basic_constraints(ByteView v);
Result<std::uint32_t> decode_key_usage(ByteView v);
Result<std::vector<Bytes>> decode_ext_key_usage(ByteView v);        // OID contents
Result<std::vector<GeneralName>> decode_general_names(ByteView v);  // SAN; unknown forms refused
Result<Bytes> decode_subject_key_id(ByteView v);
Result<Bytes> decode_authority_key_id(ByteView v);  // keyIdentifier only
Result<NameConstraints> decode_name_constraints(ByteView v);
// CRLDistributionPoints and FreshestCRL (same syntax): the fullName URIs of every distribution
// point, in order. Other name forms are skipped; a distribution point naming none is refused.
Result<std::vector<std::string>> decode_distribution_point_urls(ByteView v);
// IssuingDistributionPoint (RFC 5280 §5.2.5), the parts Sigil writes and checks.
struct IssuingDistributionPoint {
  std::vector<std::string> urls;  // distributionPoint fullName URIs
  bool only_user_certs = false, only_ca_certs = false, indirect_crl = false, only_attribute_certs = false;
  bool only_some_reasons = false;
};
Result<IssuingDistributionPoint> decode_issuing_distribution_point(ByteView v);

// A certification request, parsed strictly. Views point into `der`.
class Csr {
 public:
  static Result<Csr> from_der(Bytes der);
  static Result<Csr> from_pem_or_der(std::string_view bytes);
  Csr(Csr&&) = default;
  Csr& operator=(Csr&&) = default;
  Csr(const Csr&) = delete;
  Csr& operator=(const Csr&) = delete;

  const Bytes& der() const { return der_; }
  ByteView info_der() const { return info_; }  // the signed CertificationRequestInfo
  ByteView subject() const { return subject_; }
  const PublicKey& public_key() const { return key_; }
  SignatureAlgorithm signature_algorithm() const { return sig_alg_; }
  ByteView signature() const { return signature_; }
  const std::optional<std::string>& common_name() const { return common_name_; }
  const std::vector<GeneralName>& sans() const { return sans_; }

 private:
  Csr() = default;
  Bytes der_;
  ByteView info_, subject_, signature_;
  PublicKey key_;
  SignatureAlgorithm sig_alg_ = SignatureAlgorithm::ecdsa_sha256;
  std::optional<std::string> common_name_;
  std::vector<GeneralName> sans_;
};

// CertificationRequestInfo with a subject and an extensionRequest for the SANs.
Bytes encode_csr_info(ByteView subject_name, ByteView spki, const std::vector<GeneralName>& sans);

// CRL (RFC 5280 §5), v2.
struct RevokedEntry {
  Bytes serial;  // big-endian
  TimePoint revoked_at;
  std::optional<int> reason;  // CRLReason code; omitted when unspecified
};
struct CrlSpec {
  SignatureAlgorithm signature = SignatureAlgorithm::ecdsa_sha256;
  Bytes issuer;  // DER Name
  TimePoint this_update, next_update;
  std::vector<RevokedEntry> revoked;  // for encode_tbs_crl only; CrlWriter takes entries one by one
  Bytes authority_key_id;
  std::int64_t crl_number = 0;
  // Issuing Distribution Point (RFC 5280 §5.2.5), critical: the CRL's scope is the certificates
  // whose CRL distribution point is this URL (a shard). Empty: no IDP (the CA's whole scope).
  std::string idp_url;
  bool idp_only_user_certs = true;  // onlyContainsUserCerts (with idp_url)
  // A delta CRL (RFC 5280 §5.2.4): critical Delta CRL Indicator naming its base's CRL number.
  std::optional<std::int64_t> base_crl_number;
  // A complete CRL's pointers to its delta CRLs (RFC 5280 §5.2.6, non-critical; never in a delta).
  std::vector<std::string> freshest_crl_urls;
};

// Builds a signed CRL in one buffer, entries streamed in: no per-entry objects, no copy of
// the TBS when the signature is appended. Peak memory is about the CRL's own size when
// `expected_entries` is right.
//   CrlWriter w(spec, n); w.add(...)...; auto tbs = w.tbs(); sig = sign(tbs); der = w.finish(sig);
class CrlWriter {
 public:
  CrlWriter(const CrlSpec& header, std::size_t expected_entries);
  // serial: big-endian magnitude; reason 0 (unspecified) writes no extension.
  void add(ByteView serial, TimePoint revoked_at, int reason);
  std::size_t count() const { return count_; }
  // Closes the TBSCertList; the view stays valid until finish().
  ByteView tbs();
  Bytes finish(ByteView signature);

 private:
  CrlSpec header_;
  der::Writer w_;
  std::size_t outer_ = 0, tbs_start_ = 0, tbs_ = 0, list_ = 0, list_begin_ = 0, count_ = 0;
  bool tbs_closed_ = false;
};

Bytes encode_tbs_crl(const CrlSpec& spec);  // small CRLs in one call (tests, the offline root)
// What `sigil crl show` and HTTP caching need of a DER CRL.
struct CrlSummary {
  TimePoint this_update, next_update;  // nextUpdate required
  std::size_t entries = 0;
  std::optional<std::int64_t> number;
  std::optional<IssuingDistributionPoint> idp;
  bool idp_critical = false;
  std::optional<std::int64_t> base_number;  // Delta CRL Indicator: this is a delta CRL
  bool delta_indicator_critical = false;
  std::vector<std::string> freshest_crl_urls;
};
Result<CrlSummary> parse_crl_summary(ByteView der);

}  // namespace sigil::crypto
