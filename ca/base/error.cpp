#include "ca/base/error.hpp"

#include <array>
#include <cstddef>

namespace sigil {
namespace {

struct Row {
  Errc code;
  ErrorInfo info;
};

// Exit codes: 1 generic, 2 usage (CLI11's own), 3 input refused, 4 not found/exists,
// 5 authentication, 6 I/O or storage, 7 internal, 8 rate limited.
constexpr std::array<Row, 29> kTable{{
    {Errc::invalid_argument, {"invalid_argument", 400, "about:blank", 3}},
    {Errc::malformed, {"malformed", 400, "urn:ietf:params:acme:error:malformed", 3}},
    {Errc::bad_csr, {"bad_csr", 400, "urn:ietf:params:acme:error:badCSR", 3}},
    {Errc::bad_public_key, {"bad_public_key", 400, "urn:ietf:params:acme:error:badPublicKey", 3}},
    {Errc::rejected_identifier, {"rejected_identifier", 400, "urn:ietf:params:acme:error:rejectedIdentifier", 3}},
    {Errc::policy_violation, {"policy_violation", 400, "urn:sigil:error:policyViolation", 3}},
    {Errc::lint_failed, {"lint_failed", 500, "urn:sigil:error:lintFailed", 7}},
    {Errc::not_found, {"not_found", 404, "about:blank", 4}},
    {Errc::already_exists, {"already_exists", 409, "about:blank", 4}},
    {Errc::conflict, {"conflict", 409, "about:blank", 4}},
    {Errc::unauthorized, {"unauthorized", 401, "urn:ietf:params:acme:error:unauthorized", 5}},
    {Errc::forbidden, {"forbidden", 403, "urn:ietf:params:acme:error:unauthorized", 5}},
    {Errc::io, {"io", 500, "urn:ietf:params:acme:error:serverInternal", 6}},
    {Errc::storage, {"storage", 500, "urn:ietf:params:acme:error:serverInternal", 6}},
    {Errc::crypto, {"crypto", 500, "urn:ietf:params:acme:error:serverInternal", 7}},
    {Errc::internal, {"internal", 500, "urn:ietf:params:acme:error:serverInternal", 7}},
    {Errc::rate_limited, {"rate_limited", 429, "urn:ietf:params:acme:error:rateLimited", 8}},
    {Errc::bad_nonce, {"bad_nonce", 400, "urn:ietf:params:acme:error:badNonce", 3}},
    {Errc::bad_signature_algorithm,
     {"bad_signature_algorithm", 400, "urn:ietf:params:acme:error:badSignatureAlgorithm", 3}},
    {Errc::account_does_not_exist,
     {"account_does_not_exist", 400, "urn:ietf:params:acme:error:accountDoesNotExist", 4}},
    {Errc::external_account_required,
     {"external_account_required", 400, "urn:ietf:params:acme:error:externalAccountRequired", 5}},
    {Errc::order_not_ready, {"order_not_ready", 403, "urn:ietf:params:acme:error:orderNotReady", 3}},
    {Errc::already_revoked, {"already_revoked", 400, "urn:ietf:params:acme:error:alreadyRevoked", 4}},
    {Errc::already_replaced, {"already_replaced", 409, "urn:ietf:params:acme:error:alreadyReplaced", 4}},
    {Errc::invalid_contact, {"invalid_contact", 400, "urn:ietf:params:acme:error:invalidContact", 3}},
    {Errc::bad_revocation_reason, {"bad_revocation_reason", 400, "urn:ietf:params:acme:error:badRevocationReason", 3}},
    {Errc::unsupported_identifier,
     {"unsupported_identifier", 400, "urn:ietf:params:acme:error:unsupportedIdentifier", 3}},
    {Errc::unsupported_media_type, {"unsupported_media_type", 415, "urn:ietf:params:acme:error:malformed", 3}},
    {Errc::unavailable, {"unavailable", 503, "urn:ietf:params:acme:error:serverInternal", 6}},
}};

}  // namespace

const ErrorInfo& info(Errc code) {
  const auto i = static_cast<std::size_t>(code);
  assert(i < kTable.size() && kTable[i].code == code);
  return kTable[i].info;
}

}  // namespace sigil
