#pragma once
// OCSP (RFC 6960, with the RFC 5019 lightweight profile and RFC 8954 nonces): request parsing,
// response encoding and signing, response parsing. Pure DER through the der:: Writer/Reader;
// OpenSSL is used inside ocsp.cpp for digests only.
#include <optional>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/x509.hpp"

namespace sigil::crypto::ocsp {

// The hash algorithm of a CertID (it names the issuer by hashes, not by certificate).
enum class HashAlg { sha1, sha256, sha384, sha512 };
std::size_t digest_size(HashAlg h);

struct CertId {
  HashAlg hash = HashAlg::sha1;
  Bytes issuer_name_hash;
  Bytes issuer_key_hash;
  Bytes serial;  // INTEGER contents as sent (minimal two's complement; echoed verbatim)
  bool operator==(const CertId&) const = default;
};
Bytes issuer_name_hash(HashAlg h, ByteView issuer_subject_der);  // hash of the issuer's DER Name
Bytes issuer_key_hash(HashAlg h, const PublicKey& issuer_key);   // hash of the subjectPublicKey bits
// The CertID a client would send for `serial` (big-endian, as in CertificateSpec) issued by `issuer`.
CertId make_cert_id(HashAlg h, const Certificate& issuer, ByteView serial);

// RFC 8954 §2.1: a nonce is 1..32 octets.
inline constexpr std::size_t kMaxNonce = 32;
// More CertIDs than this in one request is refused (RFC 5019 clients send one).
inline constexpr std::size_t kMaxRequestIds = 16;

struct Request {
  std::vector<CertId> ids;
  std::optional<Bytes> nonce;  // the Nonce OCTET STRING's contents (inside the extnValue)
};
// Strict DER, every error Errc::malformed. A request signature is accepted and ignored; the
// version, if encoded, must be v1; requestorName is ignored; 1..16 CertIDs; unknown extensions
// are ignored unless critical; hash algorithms SHA-1/SHA-256/384/512 with absent or NULL
// parameters and hashes of the algorithm's length.
Result<Request> parse_request(ByteView der);
// The client side (`sigil ocsp status`, tests): an unsigned OCSPRequest.
Bytes encode_request(const Request& request);

enum class CertStatus { good, revoked, unknown };
struct SingleResponse {
  CertId id;
  CertStatus status = CertStatus::good;
  TimePoint revoked_at{};
  std::optional<int> reason;  // CRLReason; omitted from the encoding when 0 (unspecified), as in CRLs
  TimePoint this_update, next_update;
  bool operator==(const SingleResponse&) const = default;
};

struct ResponseSpec {
  TimePoint produced_at;
  std::vector<SingleResponse> responses;
  std::optional<Bytes> nonce;  // echoed as the id-pkix-ocsp-nonce extension (non-critical)
  std::vector<Bytes> certs;    // DER certificates to include (the delegated responder's certificate)
};

// RFC 6960 §4.2.2.3 byKey: SHA-1 of the subjectPublicKey bits.
Bytes responder_key_hash(const PublicKey& key);

// A signed OCSPResponse (successful, id-pkix-ocsp-basic). responderID is byKey for the signer;
// the signature algorithm is the signer's. A spec that cannot be encoded is Errc::invalid_argument.
Result<Bytes> make_response(const Signer& signer, const ResponseSpec& spec);

// make_response in steps, for a caller that prepares the ResponseData and signs later (or signs
// the same data again): tbsResponseData -> signature -> OCSPResponse.
Result<Bytes> encode_response_data(ByteView responder_key_hash, const ResponseSpec& spec);
Bytes assemble_response(ByteView response_data, SignatureAlgorithm alg, ByteView signature,
                        const std::vector<Bytes>& certs);

enum class ResponseStatus {
  successful = 0,
  malformed_request = 1,
  internal_error = 2,
  try_later = 3,
  sig_required = 5,
  unauthorized = 6
};
// An OCSPResponse with only the status (no responseBytes). `successful` is a programmer error.
Bytes error_response(ResponseStatus s);

struct ParsedResponse {
  ResponseStatus status = ResponseStatus::successful;
  // The rest is set for `successful` only.
  std::vector<SingleResponse> responses;  // next_update is TimePoint{} when absent
  std::optional<Bytes> nonce;
  TimePoint produced_at{};
  Bytes tbs_response_data;  // the signed bytes (whole ResponseData)
  SignatureAlgorithm sig_alg = SignatureAlgorithm::ecdsa_sha256;
  Bytes signature;
  std::vector<Bytes> certs;
  Bytes responder_key_hash;  // responderID byKey; empty when byName
  Bytes responder_name;      // responderID byName (DER Name); empty when byKey
};
// Strict DER; every error Errc::malformed. The signature is not checked here: see
// verify_response.
Result<ParsedResponse> parse_response(ByteView der);

// Checks the signature of a parsed successful response with `key` (the CA's or the delegated
// responder's). Errc::unauthorized when it does not verify.
sigil::Status verify_response(const ParsedResponse& r, const PublicKey& key);

}  // namespace sigil::crypto::ocsp
