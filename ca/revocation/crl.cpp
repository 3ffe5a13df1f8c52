#include <algorithm>

#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/revocation/revocation.hpp"

namespace sigil::revocation {

Result<PublishedCrl> build_crl(const crypto::Signer& key, const crypto::Certificate& ca, const std::string& issuer_id,
                               store::RevocationReader& reader, store::CrlStore& crls, TimePoint now,
                               Seconds validity) {
  auto ski = ca.subject_key_id();
  if (!ski) return make_error(Errc::invalid_argument, "the CA certificate has no subjectKeyIdentifier");
  const std::int64_t cutoff = to_unix(now);
  SIGIL_TRY(const std::int64_t expected, reader.count_revoked(issuer_id, cutoff));
  SIGIL_TRY(const std::int64_t number, crls.next_crl_number(issuer_id));

  crypto::CrlSpec spec;
  spec.signature = key.signature_algorithm();
  spec.issuer.assign(ca.tbs().subject.begin(), ca.tbs().subject.end());
  spec.this_update = now;
  spec.next_update = now + validity;
  spec.authority_key_id = *ski;
  spec.crl_number = number;
  // A few more than counted: revocations may land between the count and the scan.
  crypto::CrlWriter w(spec, static_cast<std::size_t>(expected) + 64);
  std::uint8_t serial[20];
  SIGIL_TRY_STATUS(reader.for_each_revoked(issuer_id, cutoff, [&](const store::RevokedSerial& r) -> Status {
    // Hex to octets without allocating: this runs a million times for a large CRL.
    const std::string& h = r.serial;
    if (h.empty() || h.size() % 2 != 0 || h.size() > 40) return make_error(Errc::storage, "bad serial in store: " + h);
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    const std::size_t n = h.size() / 2;
    for (std::size_t i = 0; i < n; ++i) serial[i] = static_cast<std::uint8_t>(nib(h[2 * i]) * 16 + nib(h[2 * i + 1]));
    w.add(crypto::ByteView(serial, n), from_unix(r.revoked_at), static_cast<int>(r.reason));
    return {};
  }));
  SIGIL_TRY(Bytes sig, key.sign(w.tbs()));
  PublishedCrl out;
  out.number = number;
  out.this_update = spec.this_update;
  out.next_update = spec.next_update;
  out.entries = w.count();
  out.der = w.finish(sig);
  // The record borrows the DER for the save and gives it back: one copy of a large CRL.
  store::CrlRecord record{issuer_id, number, to_unix(out.this_update), to_unix(out.next_update), std::move(out.der)};
  const Status saved = crls.save_crl(record);
  out.der = std::move(record.der);
  SIGIL_TRY_STATUS(saved);
  return out;
}

CrlPublisher::CrlPublisher(const crypto::Signer& key, const crypto::Certificate& ca, std::string issuer_id,
                           store::RevocationReader& reader, store::CrlStore& crls, const Clock& clock, Metrics& metrics,
                           CrlOptions options)
    : key_(key),
      ca_(ca),
      issuer_id_(std::move(issuer_id)),
      reader_(reader),
      crls_(crls),
      clock_(clock),
      metrics_(metrics),
      options_(options) {
  metrics_.gauge_fn("sigil_crl_age_seconds", "Seconds since the current CRL's thisUpdate", [this] {
    auto c = current();
    return c ? std::chrono::duration<double>(clock_.now() - c->this_update).count() : -1.0;
  });
}

CrlPublisher::~CrlPublisher() { stop(); }

Status CrlPublisher::rebuild() {
  const auto started = std::chrono::steady_clock::now();
  // Read before gathering: a revocation committed meanwhile shows as a newer sequence later.
  SIGIL_TRY(const std::int64_t seq, reader_.revocation_sequence());
  // thisUpdate is also Last-Modified: each CRL's must be later than the last one's, or a
  // client revalidating by date (If-Modified-Since, one-second resolution) could keep a CRL
  // that misses a revocation made in the same second.
  TimePoint now = std::chrono::time_point_cast<Seconds>(clock_.now());
  if (auto previous = current(); previous && now <= previous->this_update) now = previous->this_update + Seconds(1);
  SIGIL_TRY(PublishedCrl crl, build_crl(key_, ca_, issuer_id_, reader_, crls_, now, options_.validity));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.add("sigil_crl_builds_total", {});
  metrics_.set("sigil_crl_number", {}, static_cast<double>(crl.number));
  metrics_.set("sigil_crl_entries", {}, static_cast<double>(crl.entries));
  log::info("CRL published", {{"number", std::to_string(crl.number)},
                              {"entries", std::to_string(crl.entries)},
                              {"bytes", std::to_string(crl.der.size())},
                              {"seconds", std::to_string(secs)}});
  current_.store(std::make_shared<const PublishedCrl>(std::move(crl)));
  published_seq_ = seq;
  return {};
}

void CrlPublisher::start() {
  thread_ = std::thread([this] { run(); });
}

void CrlPublisher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CrlPublisher::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const auto seq = reader_.revocation_sequence();
    const auto crl = current();
    const bool stale = !crl || clock_.now() >= crl->this_update + options_.validity / 2;
    const bool revoked = seq && *seq != published_seq_.load();
    if (!seq) log::error("cannot read the revocation sequence", {{"error", seq.error().detail}});
    if (revoked) {
      // Revocations arrived: let a burst settle, then publish once.
      lock.lock();
      cv_.wait_for(lock, options_.debounce, [&] { return stopping_; });
      lock.unlock();
    }
    if ((stale || revoked) && !stopping_) {
      if (auto s = rebuild(); !s) {
        metrics_.add("sigil_crl_build_failures_total", {});
        log::error("CRL build failed; retrying in 5s", {{"error", s.error().detail}});
        lock.lock();
        cv_.wait_for(lock, std::chrono::seconds(5), [&] { return stopping_; });
        lock.unlock();
      }
    }
    lock.lock();
    cv_.wait_for(lock, options_.poll, [&] { return stopping_; });
  }
}

}  // namespace sigil::revocation
