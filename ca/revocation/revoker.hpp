#pragma once
// The one owner of "revoke a leaf certificate", whichever path asks: the REST API, ACME
// revokeCert (acme/ra) and `sigil revoke`. Each caller decides who may revoke (mTLS role, RFC 8555
// §7.6 account or key); everything else is decided here, once: which reasons a leaf may be revoked
// for, whether the certificate is this CA's, the keyCompromise key block, the audit row and the
// metrics. The publishers (OCSP re-signing, CRL rebuild) learn of a revocation from the store's
// revocation sequence, which also carries revocations made by another process (`sigil revoke`
// beside a running server, another node), so nothing here tells them directly.
#include <cstdint>
#include <optional>
#include <string>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/base/metrics.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/policy/policy.hpp"
#include "store/store.hpp"

namespace sigil::revocation {

struct RevokeRequest {
  store::RevocationReason reason = store::RevocationReason::unspecified;
  std::string actor;  // the audit row's: "api:<identity>", "cli:user@host", an ACME account URL
  std::string via;    // prefixed to the audit detail ("acme"); empty for none
};

struct Revoked {
  std::string serial;
  store::RevocationReason reason = store::RevocationReason::unspecified;
  std::int64_t revoked_at = 0;  // unix seconds
};

class Revoker {
 public:
  // Revokes the certificates of `issuer`'s authorities (current and replaced ones) only.
  Revoker(store::CertificateLedger& ledger, const issuer::Issuer& issuer, const Clock& clock, Metrics& metrics);
  // Revokes any certificate of the ledger: for `sigil revoke`, which loads no CA key (every
  // certificate in the home's ledger was issued by one of its intermediates).
  Revoker(store::CertificateLedger& ledger, const Clock& clock, Metrics& metrics);

  // The record with this serial (store form: store::normalize_serial) if this CA issued it;
  // nullopt when unknown or of another issuer. What a caller reads to decide who may revoke it.
  Result<std::optional<store::CertificateRecord>> find(const std::string& serial) const;

  // Revokes `record` (as find() returned it) now. Refused, with nothing written: a reason that is
  // not a leaf's (bad_revocation_reason), a certificate of another issuer (not_found), a pending
  // one or one already revoked (conflict). For keyCompromise the certificate's key is blocked in
  // the revocation's transaction, so that Issuer::prepare refuses it from then on. Counted in
  // sigil_certificates_revoked_total{profile,reason}; refusals in
  // sigil_revocations_refused_total{reason,error}.
  Result<Revoked> revoke(const store::CertificateRecord& record, const RevokeRequest& request);

 private:
  void describe_metrics();
  bool is_ours(const std::string& issuer_id) const;
  Result<Revoked> commit(const store::CertificateRecord& record, const RevokeRequest& request);

  store::CertificateLedger& ledger_;
  const issuer::Issuer* issuer_;  // null: every issuer in the ledger is ours
  const Clock& clock_;
  Metrics& metrics_;
};

// RFC 9773's suggested renewal window for one of this CA's certificates (ACME renewalInfo and the
// REST renewal-info endpoint): a revoked certificate, or one flagged for replacement after an
// incident, is to be replaced now; any other follows policy::renewal_window.
Result<policy::RenewalWindow> suggested_renewal_window(store::CertificateReader& certificates,
                                                       const store::CertificateRecord& record, TimePoint now);

}  // namespace sigil::revocation
