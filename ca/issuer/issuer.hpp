#pragma once
// The one way to issue a certificate: prepare() runs every check and returns a single-use
// token holding a linted to-be-signed certificate; issue() is the only code that signs.
// Persist before sign (serial + TBS committed), persist before release (DER committed).
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/policy/policy.hpp"
#include "store/store.hpp"

namespace sigil::issuer {

// How new certificates name their CRL (RFC 5280 §5.2.5, §5.2.6). With one shard, every leaf
// names the issuer's single CRL (shard 0); with N > 1, a leaf gets shard 1..N from its serial
// (uniform) and that shard's URL. A certificate's shard is stored with it and never changes, so
// changing `shards` later leaves earlier certificates and their CRLs as they were.
struct CrlLayout {
  int shards = 1;       // 1..kMaxCrlShards
  bool deltas = false;  // leaves also carry a FreshestCRL pointer to their shard's delta CRL
};
inline constexpr int kMaxCrlShards = 1024;
// No certificate this CA issues is larger: prepare refuses a to-be-signed certificate that could
// make one, so a peer may refuse anything larger unparsed (ACME revokeCert, which needs no account,
// does). The largest legitimate one (100 names of 253 octets, P-256) is about 26 KiB.
inline constexpr std::size_t kMaxCertificateSize = 32 << 10;

struct Options {
  std::string public_url;    // base of the CDP and AIA URLs ("" writes none)
  Seconds backdate{5 * 60};  // notBefore = now - backdate, for clock skew
};

// URLs written into leaves, keyed by issuer so an old intermediate keeps answering for its own.
struct IssuerUrls {
  std::string crl;         // <public>/crl/<issuer-key-id>.crl (shard 0)
  std::string ocsp;        // <public>/ocsp
  std::string ca_issuers;  // <public>/ca/<issuer-key-id>.crt
};
IssuerUrls urls_for(const std::string& public_url, const crypto::Certificate& ca);
// A CRL's path on the public listener (the URL is <public> + path): shard 0 is
// /crl/<issuer-key-id>.crl, shard k > 0 /crl/<issuer-key-id>/<k>.crl; a shard's delta CRL is the
// same path with "-delta" before ".crl".
std::string crl_path(const crypto::Certificate& ca, int shard, bool delta = false);
std::string crl_url(const std::string& public_url, const crypto::Certificate& ca, int shard, bool delta = false);
// The shard of a new certificate: 0 with one shard, else 1 + (serial mod shards).
int crl_shard_for(crypto::ByteView serial, int shards);
// Stable identifier of an issuing CA: hex SHA-256 of its SubjectPublicKeyInfo.
std::string issuer_id(const crypto::Certificate& ca);
// Hex SHA-256 of a key's SubjectPublicKeyInfo DER: how blocked keys are recorded and looked up.
std::string key_sha256(const crypto::PublicKey& key);

struct Request {
  std::string csr;  // PEM or DER; may be empty for a renewal that keeps the key
  std::string profile;
  std::optional<Seconds> ttl;  // profile default when absent
  std::string requester;       // who asks: recorded with the certificate and in the audit log
  // Renewal: the new certificate carries exactly this certificate's identities (checked
  // against today's policy again); its key is the CSR's if one is given, else the same key.
  const crypto::Certificate* renewal_of = nullptr;
};

// One intermediate the Issuer knows. The current one issues leaves; earlier ones that have not
// expired keep signing their own CRLs, OCSP responses and OCSP responder certificates, so an old
// intermediate keeps answering for its certificates after a new one took over. Immutable once
// made, and kept for the Issuer's lifetime (references to it stay valid).
struct Authority {
  std::shared_ptr<const crypto::Signer> key;
  crypto::Certificate cert;
  std::string id;  // issuer_id(cert)
  std::string pem;
  Bytes key_id;  // the certificate's subjectKeyIdentifier: the leaves' authorityKeyIdentifier
  IssuerUrls urls;
  std::optional<crypto::NameConstraints> name_constraints;
};

// Every decision prepare makes on a request (Issuer::assess), for `sigil policy explain`: the
// same checks in the same order, collected instead of stopping at the first refusal.
struct IdentifierAssessment {
  std::string identifier;                   // normalised when it could be ("dns:a.example")
  std::optional<crypto::GeneralName> name;  // the normalised name; none when its syntax is refused
  std::vector<policy::Decision> decisions;  // syntax, profile SAN types, identifier policy, name constraints
  bool allowed() const;
};
struct Assessment {
  std::string profile;
  Seconds ttl{0};  // as asked, or the profile's default
  crypto::PublicKey key;
  // Request-wide checks by name ("ttl", "key_policy", "key_types", "blocked_keys", "require_spiffe").
  std::vector<std::pair<std::string, policy::Decision>> checks;
  std::vector<IdentifierAssessment> identifiers;  // duplicates collapsed
  std::vector<crypto::GeneralName> names;         // the allowed ones, normalised, in request order
  bool allowed() const;
};

class Issuer;

// Move-only, single-use: the only thing issue() accepts, and only prepare() makes one.
class Prepared {
 public:
  Prepared(Prepared&&) = default;
  Prepared& operator=(Prepared&&) = default;
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;
  const store::PendingCertificate& pending() const { return pending_; }

 private:
  friend class Issuer;
  Prepared() = default;
  store::PendingCertificate pending_;     // carries the TBS
  const Authority* authority_ = nullptr;  // who signs it
  bool used_ = false;
};

struct Issued {
  std::string serial;
  Bytes der;
  std::string chain_pem;  // leaf, then the issuing CA
  TimePoint not_before;
  TimePoint not_after;
};

class Issuer {
 public:
  // Checks that `signer` holds the key of `ca_cert` and that the CA may issue.
  static Result<std::unique_ptr<Issuer>> create(const crypto::Signer& signer, crypto::Certificate ca_cert,
                                                policy::IdentifierPolicy identifiers, policy::Profiles profiles,
                                                Options options, const Clock& clock, store::CertificateLedger& ledger);

  Result<Prepared> prepare(const Request& request) const;
  Result<Issued> issue(Prepared&& prepared);
  // The delegated OCSP responder certificate (RFC 6960 §4.2.2.2): id-kp-OCSPSigning,
  // id-pkix-ocsp-nocheck, no names; linted, recorded and signed like a leaf.
  // `by`: the authority whose certificates it answers for (default: the current one).
  Result<Prepared> prepare_ocsp_responder(const crypto::PublicKey& key, Seconds ttl, const std::string& requester,
                                          const Authority* by = nullptr) const;

  // Every check prepare() makes, each decision kept (nothing is reserved or signed). An error
  // only for what stops prepare before any rule applies: an unknown profile, a TTL that is not
  // positive, a CSR that does not parse or verify or names nothing, over 100 identifiers.
  Result<Assessment> assess(const Request& request) const;

  // One identifier against today's policy, the CA's name constraints and the profile (what
  // ACME checks at newOrder, before any CSR exists). Returns it normalised.
  Result<crypto::GeneralName> check_identifier(const crypto::GeneralName& name, std::string_view profile) const;

  // The current authority (it issues new leaves) and its certificate and id.
  const Authority& current() const { return *current_.load(); }
  const crypto::Certificate& certificate() const { return current().cert; }
  const std::string& id() const { return current().id; }
  // Every authority known, the current one first; and one by issuer id (null if unknown).
  std::vector<const Authority*> authorities() const;
  const Authority* authority(std::string_view id) const;
  // Another intermediate, checked like create()'s. It answers for its own (CRLs, OCSP) and
  // issues nothing until made current. The same key re-certified replaces the certificate under
  // the same id (and stays current if it was).
  Result<const Authority*> add_authority(std::shared_ptr<const crypto::Signer> key, crypto::Certificate cert);
  // From now on new certificates come from this authority (a new intermediate installed while
  // running); the previous one keeps answering for its own.
  Status make_current(std::string_view id);
  policy::Profiles profiles() const;
  // SIGHUP: a new identifier policy and profiles for requests prepared from now on.
  Status update_policy(policy::IdentifierPolicy identifiers, policy::Profiles profiles);
  // The CRL layout for certificates prepared from now on (one shard, no deltas until set; the
  // composition root sets it from `revocation.crl_shards` and `revocation.delta_crl_interval`).
  Status update_crl_layout(CrlLayout layout);

 private:
  Issuer(policy::IdentifierPolicy identifiers, policy::Profiles profiles, Options options, const Clock& clock,
         store::CertificateLedger& ledger);
  Result<std::unique_ptr<const Authority>> make_authority(std::shared_ptr<const crypto::Signer> key,
                                                          crypto::Certificate cert) const;
  Result<std::vector<crypto::GeneralName>> requested_names(const crypto::Csr& csr) const;
  Result<policy::Decision> decide_not_blocked(const crypto::PublicKey& key) const;
  IdentifierAssessment assess_name(const crypto::GeneralName& requested, const policy::Profile& p,
                                   const Authority& by) const;
  // With `stop`, the first refusal is returned as prepare's error; without, every decision is kept.
  Result<Assessment> assess_locked(const Request& req, const policy::Profile& p, const Authority& by, bool stop) const;
  Status approve(const std::vector<crypto::GeneralName>& requested, const policy::Profile& p, const Authority& by,
                 bool stop, Assessment& out) const;

  mutable std::mutex authorities_mu_;                   // guards the two vectors below
  std::vector<std::unique_ptr<const Authority>> kept_;  // every authority ever made (never freed)
  std::vector<const Authority*> known_;                 // the newest per id
  std::atomic<const Authority*> current_{nullptr};
  mutable std::shared_mutex policy_mu_;  // guards identifiers_ and profiles_ (replaced on reload)
  policy::IdentifierPolicy identifiers_;
  policy::Profiles profiles_;
  Options options_;
  CrlLayout crl_layout_;  // guarded by policy_mu_
  const Clock& clock_;
  store::CertificateLedger& ledger_;
};

// 16 random octets, positive, first octet non-zero: 127 bits from the CSPRNG.
Bytes new_serial();

}  // namespace sigil::issuer
