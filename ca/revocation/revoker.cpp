#include "ca/revocation/revoker.hpp"

namespace sigil::revocation {
namespace {
// A metric label for any code a caller sent (ACME sends integers): the RFC 5280 name if it has one.
std::string reason_label(store::RevocationReason r) {
  const std::string name = store::to_string(r);
  // A code outside RFC 5280's list is "other": a label never takes a caller's value (bounded series).
  return r != store::RevocationReason::unspecified && name == "unspecified" ? "other" : name;
}
}  // namespace

Revoker::Revoker(store::CertificateLedger& ledger, const issuer::Issuer& issuer, const Clock& clock, Metrics& metrics)
    : ledger_(ledger), issuer_(&issuer), clock_(clock), metrics_(metrics) {
  describe_metrics();
}

Revoker::Revoker(store::CertificateLedger& ledger, const Clock& clock, Metrics& metrics)
    : ledger_(ledger), issuer_(nullptr), clock_(clock), metrics_(metrics) {
  describe_metrics();
}

// Families exist from the start, so rate() and increase() in alerting rules see the first event.
void Revoker::describe_metrics() {
  metrics_.describe("sigil_certificates_revoked_total", "counter", "Certificates revoked, by reason");
  metrics_.describe("sigil_revocations_refused_total", "counter", "Revocation requests refused, by reason");
}

bool Revoker::is_ours(const std::string& issuer_id) const {
  return issuer_ == nullptr || issuer_->authority(issuer_id) != nullptr;
}

Result<std::optional<store::CertificateRecord>> Revoker::find(const std::string& serial) const {
  SIGIL_TRY(auto rec, ledger_.find(serial));
  if (rec && !is_ours(rec->issuer_id)) return std::optional<store::CertificateRecord>{};
  return rec;
}

Result<Revoked> Revoker::revoke(const store::CertificateRecord& record, const RevokeRequest& request) {
  auto out = commit(record, request);
  if (out) {
    metrics_.add("sigil_certificates_revoked_total",
                 {{"profile", record.profile}, {"reason", store::to_string(request.reason)}});
  } else {
    metrics_.add("sigil_revocations_refused_total",
                 {{"reason", reason_label(request.reason)}, {"error", std::string(info(out.error().code).name)}});
  }
  return out;
}

Result<Revoked> Revoker::commit(const store::CertificateRecord& record, const RevokeRequest& request) {
  SIGIL_TRY_STATUS(store::leaf_revocation_reason(static_cast<int>(request.reason)));
  if (!is_ours(record.issuer_id))
    return make_error(Errc::not_found, "this CA did not issue certificate " + record.serial);
  // The store refuses both too (the record may be stale); asking it would cost a transaction.
  if (record.der.empty() || record.status != store::CertStatus::valid)
    return make_error(Errc::conflict,
                      "cannot revoke certificate " + record.serial + ": it is " + store::to_string(record.status));
  std::string key_hash;
  if (request.reason == store::RevocationReason::key_compromise) {
    SIGIL_TRY(crypto::Certificate cert, crypto::Certificate::from_der(record.der));
    key_hash = issuer::key_sha256(cert.public_key());
  }
  const std::int64_t now = to_unix(clock_.now());
  const std::string detail =
      (request.via.empty() ? "" : request.via + " ") + "reason=" + store::to_string(request.reason);
  SIGIL_TRY_STATUS(ledger_.revoke(record.serial, now, request.reason, key_hash,
                                  {now, request.actor, "revoke", record.serial, "ok", detail}));
  return Revoked{record.serial, request.reason, now};
}

Result<policy::RenewalWindow> suggested_renewal_window(store::CertificateReader& certificates,
                                                       const store::CertificateRecord& record, TimePoint now) {
  if (record.status == store::CertStatus::revoked) return policy::renew_now(now);
  SIGIL_TRY(auto flagged, certificates.renewal_flagged_at(record.serial));
  if (flagged) return policy::renew_now(now);
  return policy::renewal_window(from_unix(record.not_before), from_unix(record.not_after));
}

}  // namespace sigil::revocation
