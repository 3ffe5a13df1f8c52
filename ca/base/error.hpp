#pragma once
// Project-wide error codes and Result<T>. One table (error.cpp) maps each code to its HTTP
// status, RFC 7807 problem type and CLI exit code; edges translate through it, nowhere else.
#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sigil {

enum class Errc {
  invalid_argument,     // a caller's input is wrong (flag, JSON field, config key)
  malformed,            // bytes that do not parse (PEM, DER, JSON)
  bad_csr,              // CSR parses but is unacceptable (signature, identifiers vs CSR)
  bad_public_key,       // key type or size below policy
  rejected_identifier,  // identifier outside the identifier policy
  policy_violation,     // profile/TTL/other issuance rule
  lint_failed,          // to-be-signed certificate failed the pre-sign lint
  not_found,
  already_exists,
  conflict,
  unauthorized,  // authentication failed (bad passphrase, no credential)
  forbidden,     // authenticated but not allowed
  io,            // file system
  storage,       // database
  crypto,        // OpenSSL failure not caused by the input
  internal,
  // ACME (RFC 8555 §6.7, RFC 9773 §7.4); usable anywhere the meaning fits.
  rate_limited,             // 429 with Retry-After
  bad_nonce,                // missing, unknown, used or expired anti-replay nonce
  bad_signature_algorithm,  // JWS alg not accepted
  account_does_not_exist,   // onlyReturnExisting for an unknown key; a kid that names nothing
  external_account_required,
  order_not_ready,   // finalize before "ready"
  already_revoked,   // revoking a revoked certificate
  already_replaced,  // RFC 9773: the certificate was already replaced by another order
  invalid_contact,   // a contact URL that is not acceptable
  bad_revocation_reason,
  unsupported_identifier,  // an identifier type this server does not issue for
  unsupported_media_type,  // 415 (ACME: a JWS must be application/jose+json)
  // The database is unreachable or read-only for now (a failover): 503 with Retry-After; the
  // request changed nothing and may be retried.
  unavailable,
};

struct ErrorInfo {
  std::string_view name;  // stable, machine-readable
  int http_status;
  std::string_view problem_type;  // RFC 7807 "type"
  int exit_code;                  // CLI
};

// The one table.
const ErrorInfo& info(Errc code);

struct Error {
  Errc code;
  std::string detail;

  // "detail" prefixed with some context: err.context("reading root.key")
  Error context(std::string_view what) const& { return Error{code, std::string(what) + ": " + detail}; }
};

inline Error make_error(Errc code, std::string detail) { return Error{code, std::move(detail)}; }

// A minimal std::expected look-alike (C++20 has none); same surface so a switch is mechanical.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool has_value() const { return !e_.has_value(); }
  explicit operator bool() const { return has_value(); }
  const Error& error() const {
    assert(e_);
    return *e_;
  }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;

}  // namespace sigil

// Propagate an error: SIGIL_TRY(auto x, expr) / SIGIL_TRY_STATUS(expr).
#define SIGIL_CONCAT_(a, b) a##b
#define SIGIL_CONCAT(a, b) SIGIL_CONCAT_(a, b)
#define SIGIL_TRY_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                    \
  if (!tmp) return tmp.error();         \
  decl = std::move(tmp).value()
#define SIGIL_TRY(decl, expr) SIGIL_TRY_IMPL(SIGIL_CONCAT(sigil_try_, __LINE__), decl, expr)
#define SIGIL_TRY_STATUS(expr)                        \
  do {                                                \
    auto sigil_status_ = (expr);                      \
    if (!sigil_status_) return sigil_status_.error(); \
  } while (0)
