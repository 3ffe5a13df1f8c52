#pragma once
// The registration authority: the rules of accounts, orders, authorizations and challenges
// (RFC 8555 §7), renewal information (RFC 9773) and revocation (§7.6). It is called by the
// WFE with a verified request (signature, nonce and URL already checked) and calls the one
// Issuer for certificates and the VA for validations. No HTTP, no SQL here.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "acme/jws/jws.hpp"
#include "acme/va/va.hpp"
#include "ca/base/clock.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/revocation/revoker.hpp"
#include "store/store.hpp"

namespace sigil::acme::ra {

using crypto::ByteView;

// revokeCert needs no account, so anyone may send a certificate to parse: twice the largest this
// CA issues (issuer::kMaxCertificateSize, enforced by Issuer::prepare) bounds that work.
inline constexpr std::size_t kMaxRevokeCertificate = 2 * issuer::kMaxCertificateSize;

struct RateLimits {
  std::int64_t new_orders_per_account_per_hour = 1000;
  // Counted per (account, identifier), as Boulder's FailedAuthorizationsPerDomainPerAccount:
  // one account's failures never block another account's validations of the same name.
  std::int64_t failed_validations_per_identifier_per_hour = 60;
  std::int64_t new_accounts_per_address_per_hour = 300;
};

struct Config {
  Seconds order_lifetime{24 * 3600};                // pending orders and their authorizations
  Seconds valid_authorization_lifetime{24 * 3600};  // a valid authorization, from its validation
  std::vector<std::string> profiles{"server"};      // offered; the first is the default
  bool eab_required = false;
  RateLimits limits;
  // A new order reuses the account's valid authorization for an identifier (as Boulder does)
  // when it stays valid this long at least; the order then expires with it at the latest.
  bool reuse_authorizations = true;
  Seconds reuse_min_remaining{3600};
  int orders_per_page = 100;  // the account's orders list (1..999)
  // A challenge answered while no other validation runs in this process waits this long at most
  // for its own result before the response goes out, so that the client's first poll finds the
  // authorization decided (on a quiet server a validation takes a few milliseconds; the client
  // would otherwise sleep its poll interval, Retry-After: 1 s for most). The wait holds one of
  // the server's workers, so it is bounded, taken by one request at a time, and skipped under
  // load (another validation in flight), where polling costs nothing extra. Zero: never wait.
  std::chrono::milliseconds challenge_wait{50};
};

// An error that carries what the client must see beyond the code: Retry-After for
// rateLimited, per-identifier subproblems for rejectedIdentifier.
struct Subproblem {
  Errc code;
  std::string detail;
  store::AcmeIdentifier identifier;
};
struct Refusal {
  Error error;
  std::optional<std::int64_t> retry_after;  // seconds
  std::vector<Subproblem> subproblems;
};
template <class T>
using Outcome = std::variant<T, Refusal>;

struct NewAccount {
  jws::Jwk key;
  std::vector<std::string> contact;
  bool terms_agreed = false;
  std::optional<std::string> eab_kid;  // verified by the WFE
  std::string remote_address;
};

struct NewOrder {
  std::vector<store::AcmeIdentifier> identifiers;
  std::optional<std::int64_t> not_before, not_after;
  std::string profile;   // "" = the default
  std::string replaces;  // RFC 9773 certificate identifier, or ""
};

struct RenewalInfo {
  TimePoint start, end;
  std::string explanation_url;
};

// The store interfaces the RA uses: its own ACME records, issued certificates to read (chains,
// revokeCert and renewalInfo lookups), and audit rows of events outside its own writes.
struct Stores {
  store::AcmeRepository& acme;
  store::CertificateReader& certificates;
  store::AuditWriter& audit;
};

class Ra {
 public:
  // revokeCert decides who may revoke (RFC 8555 §7.6); `revoker` does the revocation.
  Ra(Config config, Stores stores, issuer::Issuer& issuer, revocation::Revoker& revoker, va::Validator& va,
     const Clock& clock);
  ~Ra();

  const Config& config() const { return config_; }
  std::string default_profile() const { return config_.profiles.empty() ? "server" : config_.profiles.front(); }

  // Accounts (§7.3).
  Result<store::AcmeAccount> new_account(const NewAccount& request);
  Result<std::optional<store::AcmeAccount>> find_account(const std::string& thumbprint);
  Result<store::AcmeAccount> account(const std::string& id);  // account_does_not_exist when unknown
  // The account's key, parsed (remembered across requests: jws::JwkCache).
  Result<std::shared_ptr<const jws::Jwk>> account_key(const store::AcmeAccount& account);
  // Both write compare-and-set on `account` as the caller read it: if its key or status changed
  // meanwhile, unauthorized (nothing written); if only its contact or terms did, the change is
  // applied once more to the fresh state, then conflict.
  Result<store::AcmeAccount> update_account(store::AcmeAccount account, std::optional<std::vector<std::string>> contact,
                                            bool deactivate);
  Result<store::AcmeAccount> change_key(store::AcmeAccount account, const jws::Jwk& new_key);
  // The EAB key's MAC key, for the WFE's verification (not_found, or unauthorized when revoked/bound).
  Result<Bytes> eab_mac_key(const std::string& kid);

  // Orders (§7.4). The order's authorizations come back with it.
  struct OrderView {
    store::AcmeOrder order;  // status derived at `now`
    std::vector<store::AcmeAuthorization> authorizations;
  };
  Outcome<OrderView> new_order(const store::AcmeAccount& account, const NewOrder& request,
                               const std::string& remote_address);
  Result<OrderView> order(const store::AcmeAccount& account, const std::string& id);
  // The account's orders list (RFC 8555 §7.1.2.1), one page from `cursor` ("" = the first).
  struct OrderList {
    std::vector<std::string> order_ids;  // newest first
    std::string next_cursor;             // "" on the last page
  };
  Result<OrderList> orders(const store::AcmeAccount& account, const std::string& cursor);
  Result<OrderView> finalize(const store::AcmeAccount& account, const std::string& order_id, ByteView csr_der);

  // Authorizations and challenges (§7.5).
  Result<store::AcmeAuthorization> authorization(const store::AcmeAccount& account, const std::string& id);
  Result<store::AcmeAuthorization> deactivate_authorization(const store::AcmeAccount& account, const std::string& id);
  // Starts validation of one challenge (asynchronously) and returns the authorization as it
  // now stands. Answering a challenge that is no longer pending returns it unchanged.
  Outcome<store::AcmeAuthorization> answer_challenge(const store::AcmeAccount& account, const std::string& authz_id,
                                                     const std::string& type);

  // Certificates.
  Result<std::string> certificate_chain(const std::string& serial);  // PEM, leaf first
  // §7.6: by the account that ordered it (`account` set) or by the certificate's key (`key` set).
  // A certificate larger than kMaxRevokeCertificate is refused (malformed) before it is parsed.
  Status revoke(const store::AcmeAccount* account, const crypto::PublicKey* key, ByteView certificate_der, int reason);
  // RFC 9773 §4.1: "<base64url AKI keyIdentifier>.<base64url serial>".
  Result<RenewalInfo> renewal_info(const std::string& cert_id);

  // Waits for in-flight validations (shutdown).
  void drain();

 private:
  std::int64_t now() const;
  Result<std::vector<store::AcmeAuthorization>> authorizations(const store::AcmeOrder& o);
  void start_validation(const store::AcmeAccount& account, const store::AcmeAuthorization& authz,
                        const std::string& type);
  void finish_validation(const std::string& authz_id, const std::string& type, const std::string& identifier,
                         const va::Outcome& outcome);
  void resume_if_orphaned(const store::AcmeAuthorization& authz);
  // Config::challenge_wait: true when the validation of `authz_id` finished within the bound.
  bool await_quiet_validation(const std::string& authz_id);
  Result<store::CertificateRecord> certificate_by_id(const std::string& cert_id);
  Outcome<bool> take_rate(const std::string& key, std::int64_t limit, const std::string& what);
  Refusal rate_refusal(std::int64_t limit, const std::string& what) const;
  Result<bool> certificate_stored(const store::AcmeOrder& o);
  Result<store::AcmeAccount> write_account(const store::AcmeAccount& read,
                                           const std::function<void(store::AcmeAccount&)>& change,
                                           const std::string& action);

  Config config_;
  store::AcmeRepository& store_;
  store::CertificateReader& certificates_;
  store::AuditWriter& audit_;
  issuer::Issuer& issuer_;
  revocation::Revoker& revoker_;
  va::Validator& va_;
  const Clock& clock_;
  jws::JwkCache account_keys_;
  std::mutex inflight_mu_;
  std::condition_variable inflight_done_;  // an id left inflight_
  std::set<std::string> inflight_;         // authorization ids being validated by this process
  bool waiting_ = false;                   // a challenge response is waiting (Config::challenge_wait)
};

// The account's URL path below the ACME base: "/acme/acct/<id>".
std::string account_path(const std::string& id);

// The rate counter of an account's failed validations of an identifier ("*." kept for a wildcard).
std::string failed_validation_key(const std::string& account_id, const std::string& identifier);

}  // namespace sigil::acme::ra
