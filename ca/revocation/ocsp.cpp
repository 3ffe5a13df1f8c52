#include <algorithm>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/revocation/revocation.hpp"

namespace sigil::revocation {
namespace ocsp = crypto::ocsp;
using crypto::ByteView;

namespace {
constexpr ocsp::HashAlg kHashes[] = {ocsp::HashAlg::sha1, ocsp::HashAlg::sha256, ocsp::HashAlg::sha384,
                                     ocsp::HashAlg::sha512};
// Serials as the store keys them: hex of the INTEGER's octets (ours never need a leading 00).
std::string serial_hex(ByteView serial) { return to_hex(serial); }
}  // namespace

OcspStatus ocsp_status(const std::optional<store::CertificateRecord>& rec, const std::string& issuer_id) {
  OcspStatus s;
  if (!rec || rec->issuer_id != issuer_id) return s;
  if (rec->status == store::CertStatus::revoked) {
    s.status = ocsp::CertStatus::revoked;
    s.revoked_at = from_unix(rec->revoked_at.value_or(0));
    s.reason = static_cast<int>(rec->revocation_reason.value_or(store::RevocationReason::unspecified));
  } else {
    // Pending serials answer good too: every serial ever signed is known (RFC 6960 §2.2).
    s.status = ocsp::CertStatus::good;
  }
  return s;
}

OcspResponder::OcspResponder(issuer::Issuer& issuer, const issuer::Authority& authority,
                             store::CertificateReader& certificates, store::RevocationReader& revocations,
                             const Clock& clock, Metrics& metrics, OcspOptions options)
    : issuer_(issuer),
      authority_(authority),
      certificates_(certificates),
      revocations_(revocations),
      clock_(clock),
      metrics_(metrics),
      options_(options),
      issuer_id_(authority.id) {
  const crypto::Certificate& ca = authority_.cert;
  for (auto h : kHashes)
    issuer_hashes_[h] = {ocsp::issuer_name_hash(h, ca.tbs().subject), ocsp::issuer_key_hash(h, ca.public_key())};
  tokens_ = options_.live_signatures_per_second;
  bucket_at_ = std::chrono::steady_clock::now();
}

double OcspResponder::oldest_response_age() const {
  std::shared_lock lock(cache_mu_);
  const TimePoint now = clock_.now();
  double oldest = 0;
  for (const auto& [k, e] : cache_)
    oldest = std::max(oldest, std::chrono::duration<double>(now - e->this_update).count());
  return oldest;
}

OcspResponder::~OcspResponder() { stop(); }

std::string OcspResponder::cache_key(ocsp::HashAlg h, ByteView serial) {
  std::string k(1, static_cast<char>(h));
  k.append(reinterpret_cast<const char*>(serial.data()), serial.size());
  return k;
}

ocsp::CertId OcspResponder::cert_id(const std::string& key) const {
  ocsp::CertId id;
  id.hash = static_cast<ocsp::HashAlg>(key[0]);
  const auto& [name_hash, key_hash] = issuer_hashes_.at(id.hash);
  id.issuer_name_hash = name_hash;
  id.issuer_key_hash = key_hash;
  id.serial.assign(key.begin() + 1, key.end());
  return id;
}

bool OcspResponder::answers_for(const ocsp::CertId& id) const {
  auto it = issuer_hashes_.find(id.hash);
  return it != issuer_hashes_.end() && it->second.first == id.issuer_name_hash &&
         it->second.second == id.issuer_key_hash;
}

Status OcspResponder::rotate_responder() {
  auto r = std::make_shared<Responder>();
  if (options_.sign_with_intermediate) {
    r->not_after = authority_.cert.tbs().not_after;
  } else {
    // A fresh key in memory, never on disk; its certificate is recorded like any other.
    crypto::KeyType type = crypto::KeyType::ec_p256;
    if (authority_.key->public_key().algorithm == crypto::KeyAlgorithm::ec_p384) type = crypto::KeyType::ec_p384;
    SIGIL_TRY(r->key, crypto::KeySigner::generate(type));
    SIGIL_TRY(auto prepared,
              issuer_.prepare_ocsp_responder(r->key->public_key(), options_.responder_ttl, "sigil-ocsp", &authority_));
    SIGIL_TRY(auto issued, issuer_.issue(std::move(prepared)));
    r->cert_der = issued.der;
    r->not_after = issued.not_after;
    r->renew_at = policy::renewal_window(issued.not_before, issued.not_after).start;
    log::info("OCSP responder certificate issued",
              {{"serial", issued.serial}, {"not_after", format_rfc3339(issued.not_after)}});
  }
  std::lock_guard lock(responder_mu_);
  responder_ = std::move(r);
  return {};
}

Result<Bytes> OcspResponder::sign(const ocsp::ResponseSpec& spec_in) {
  std::shared_ptr<const Responder> r;
  {
    std::lock_guard lock(responder_mu_);
    r = responder_;
  }
  if (!r) return make_error(Errc::internal, "no OCSP responder");
  ocsp::ResponseSpec spec = spec_in;
  if (r->key) {
    spec.certs = {r->cert_der};
    return ocsp::make_response(*r->key, spec);
  }
  return ocsp::make_response(*authority_.key, spec);
}

Result<ocsp::SingleResponse> OcspResponder::status_of(const ocsp::CertId& id, TimePoint now, std::int64_t* not_after) {
  ocsp::SingleResponse s;
  s.id = id;
  s.this_update = now;
  s.next_update = now + options_.validity;
  SIGIL_TRY(auto rec, certificates_.find(serial_hex(id.serial)));
  const OcspStatus st = ocsp_status(rec, issuer_id_);
  if (not_after) *not_after = st.status == ocsp::CertStatus::unknown ? 0 : rec->not_after;
  s.status = st.status;
  if (st.status == ocsp::CertStatus::revoked) {
    s.revoked_at = st.revoked_at;
    s.reason = st.reason;
  }
  return s;
}

Result<std::shared_ptr<const OcspResponder::Entry>> OcspResponder::sign_entry(const ocsp::CertId& id, bool evict) {
  const TimePoint now = clock_.now();
  std::int64_t not_after = 0;
  SIGIL_TRY(ocsp::SingleResponse single, status_of(id, now, &not_after));
  ocsp::ResponseSpec spec;
  spec.produced_at = now;
  spec.responses = {single};
  SIGIL_TRY(Bytes der, sign(spec));
  auto e = std::make_shared<Entry>();
  e->this_update = single.this_update;
  e->next_update = single.next_update;
  e->status = single.status;
  e->cert_not_after = not_after;
  e->etag = "\"" + to_hex(crypto::sha256(der)).substr(0, 16) + "\"";
  e->der = std::move(der);
  metrics_.add("sigil_ocsp_signatures_total", {});
  // Unknown serials are not kept (anyone can ask for any serial); known ones are.
  if (single.status != ocsp::CertStatus::unknown) {
    std::unique_lock lock(cache_mu_);
    const std::string key = cache_key(id.hash, id.serial);
    if (cache_.size() >= options_.max_cached && !cache_.count(key)) {
      if (!evict || cache_.empty()) return std::shared_ptr<const Entry>(e);
      cache_.erase(cache_.begin());
    }
    auto& slot = cache_[key];
    // Revocation is final: a "good" signed from a read that raced a revocation never replaces
    // the "revoked" entry the revocation job stored meanwhile.
    if (!slot || slot->status != ocsp::CertStatus::revoked || e->status == ocsp::CertStatus::revoked)
      slot = e;
    else
      return std::shared_ptr<const Entry>(slot);
  }
  return std::shared_ptr<const Entry>(e);
}

bool OcspResponder::take_live_token() {
  std::lock_guard lock(bucket_mu_);
  const auto now = std::chrono::steady_clock::now();
  tokens_ =
      std::min(options_.live_signatures_per_second,
               tokens_ + std::chrono::duration<double>(now - bucket_at_).count() * options_.live_signatures_per_second);
  bucket_at_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

std::optional<OcspAnswer> OcspResponder::respond_cached(ByteView request_der) const {
  auto req = ocsp::parse_request(request_der);
  if (!req || req->nonce || req->ids.size() != 1) return std::nullopt;
  std::shared_lock lock(cache_mu_);
  auto it = cache_.find(cache_key(req->ids[0].hash, req->ids[0].serial));
  if (it == cache_.end()) return std::nullopt;
  const auto& e = it->second;
  if (clock_.now() >= e->next_update) return std::nullopt;
  // The entry answers exactly this CertID (the issuer hashes were checked when it was made).
  if (!answers_for(req->ids[0])) return std::nullopt;
  return OcspAnswer{std::shared_ptr<const Bytes>(e, &e->der), true, e->this_update, e->next_update, e->etag};
}

OcspAnswer OcspResponder::respond(ByteView request_der) {
  auto error = [&](ocsp::ResponseStatus s, const char* why) {
    metrics_.add("sigil_ocsp_responses_total", {{"status", why}});
    return OcspAnswer{std::make_shared<const Bytes>(ocsp::error_response(s)), false, {}, {}, ""};
  };
  auto req = ocsp::parse_request(request_der);
  if (!req) return error(ocsp::ResponseStatus::malformed_request, "malformedRequest");
  for (const auto& id : req->ids)
    if (!answers_for(id)) return error(ocsp::ResponseStatus::unauthorized, "unauthorized");
  if (!req->nonce && req->ids.size() == 1) {
    if (auto cached = respond_cached(request_der)) {
      metrics_.add("sigil_ocsp_responses_total", {{"status", "cached"}});
      return *cached;
    }
    if (!take_live_token()) return error(ocsp::ResponseStatus::try_later, "tryLater");
    auto e = sign_entry(req->ids[0], true);
    if (!e) {
      log::error("OCSP signing failed", {{"error", e.error().detail}});
      return error(ocsp::ResponseStatus::internal_error, "internalError");
    }
    metrics_.add("sigil_ocsp_responses_total", {{"status", "signed"}});
    const auto& entry = *e;
    return OcspAnswer{std::shared_ptr<const Bytes>(entry, &entry->der), entry->status != ocsp::CertStatus::unknown,
                      entry->this_update, entry->next_update, entry->etag};
  }
  // A nonce (RFC 8954) or several CertIDs: a fresh signature, rate-limited.
  if (!take_live_token()) return error(ocsp::ResponseStatus::try_later, "tryLater");
  const TimePoint now = clock_.now();
  ocsp::ResponseSpec spec;
  spec.produced_at = now;
  spec.nonce = req->nonce;
  for (const auto& id : req->ids) {
    auto single = status_of(id, now);
    if (!single) return error(ocsp::ResponseStatus::internal_error, "internalError");
    spec.responses.push_back(*single);
  }
  auto der = sign(spec);
  if (!der) return error(ocsp::ResponseStatus::internal_error, "internalError");
  metrics_.add("sigil_ocsp_signatures_total", {});
  metrics_.add("sigil_ocsp_responses_total", {{"status", "nonce"}});
  return OcspAnswer{std::make_shared<const Bytes>(std::move(*der)), false, now, now + options_.validity, ""};
}

std::shared_ptr<const Bytes> OcspResponder::staple(const std::string& serial) const {
  auto bytes = from_hex(serial);
  if (!bytes) return nullptr;
  std::shared_lock lock(cache_mu_);
  auto it = cache_.find(cache_key(ocsp::HashAlg::sha1, *bytes));
  if (it == cache_.end() || clock_.now() >= it->second->next_update) return nullptr;
  return std::shared_ptr<const Bytes>(it->second, &it->second->der);
}

Status OcspResponder::warm(const std::string& serial) {
  auto bytes = from_hex(serial);
  if (!bytes) return make_error(Errc::invalid_argument, "bad serial");
  const std::string key = cache_key(ocsp::HashAlg::sha1, *bytes);
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && clock_.now() < it->second->this_update + options_.validity / 2) return {};
  }
  SIGIL_TRY(auto e, sign_entry(cert_id(key)));
  (void)e;
  return {};
}

void OcspResponder::apply_revocations() {
  auto changes = revocations_.revoked_since(seen_seq_, 10000);
  if (!changes) {
    log::error("OCSP: cannot read revocations", {{"error", changes.error().detail}});
    return;
  }
  for (const auto& [serial, seq] : *changes) {
    seen_seq_ = std::max(seen_seq_, seq);
    auto bytes = from_hex(serial);
    if (!bytes) continue;
    // Every cached CertID form of this serial is replaced, and the SHA-1 one made if missing.
    for (auto h : kHashes) {
      const std::string key = cache_key(h, *bytes);
      bool cached = h == ocsp::HashAlg::sha1;
      {
        std::shared_lock lock(cache_mu_);
        cached = cached || cache_.count(key);
      }
      if (!cached) continue;
      // Held even if the cache is full (replacing another): a "good" signed from a read that
      // raced this revocation must find it there (sign_entry never replaces "revoked").
      if (auto e = sign_entry(cert_id(key), true); !e)
        log::error("OCSP: re-signing after revocation failed", {{"serial", serial}, {"error", e.error().detail}});
    }
  }
}

void OcspResponder::sweep() {
  const TimePoint now = clock_.now();
  const std::int64_t now_unix = to_unix(now);
  // Held responses (by cache key: a CertID is made only to sign) at half their validity: due,
  // or dropped if their certificate has expired (one asked for after expiry is held until then,
  // not re-signed on every ask).
  std::vector<std::string> due;
  std::vector<std::string> expired;
  {
    std::shared_lock lock(cache_mu_);
    for (const auto& [k, e] : cache_) {
      if (now < e->this_update + options_.validity / 2) continue;
      (e->cert_not_after < now_unix ? expired : due).push_back(k);
    }
  }
  std::size_t room = 0;                               // new entries the cache can still take
  std::vector<std::shared_ptr<const Entry>> dropped;  // freed after the lock (the I/O threads read)
  {
    std::unique_lock lock(cache_mu_);
    for (const auto& k : expired) {
      auto it = cache_.find(k);
      if (it == cache_.end()) continue;
      dropped.push_back(std::move(it->second));
      cache_.erase(it);
    }
    room = options_.max_cached - std::min(options_.max_cached, cache_.size());
  }
  dropped.clear();
  // New certificates (SHA-1 CertIDs, as clients send them) while there is room; the rest are
  // signed when asked for.
  const std::size_t refreshed = due.size();
  const auto steady = std::chrono::steady_clock::now();
  if (room > 0 && steady >= next_store_walk_) {
    bool filled = false;  // the walk stops there: not a failure
    auto take = [&](const store::RevokedSerial& r, bool) -> Status {
      auto bytes = from_hex(r.serial);
      if (!bytes) return {};
      std::string key = cache_key(ocsp::HashAlg::sha1, *bytes);
      {
        std::shared_lock lock(cache_mu_);
        if (cache_.count(key)) return {};
      }
      due.push_back(std::move(key));
      if (--room > 0) return {};
      filled = true;
      return make_error(Errc::internal, "the OCSP cache is full");
    };
    auto s = revocations_.for_each_certificate(issuer_id_, now_unix, take);
    if (!s && !filled) log::error("OCSP sweep: cannot read certificates", {{"error", s.error().detail}});
    // The store holds more than the cache takes: walking it every sweep would find no room.
    next_store_walk_ = filled ? steady + options_.full_cache_walk : steady;
  }
  std::size_t signed_now = 0;
  auto applied_at = std::chrono::steady_clock::now();
  for (const auto& key : due) {
    if (sign_entry(cert_id(key))) ++signed_now;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    // A long pass (the first one signs up to max_cached responses while serving) still applies
    // revocations within a poll, as the job does between passes.
    if (std::chrono::steady_clock::now() - applied_at >= options_.poll) {
      apply_revocations();
      applied_at = std::chrono::steady_clock::now();
    }
  }
  if (signed_now > 0)
    log::info("OCSP responses pre-signed",
              {{"count", std::to_string(signed_now)}, {"refreshed", std::to_string(refreshed)}});
  std::size_t cached = 0;
  {
    std::shared_lock lock(cache_mu_);
    cached = cache_.size();
  }
  metrics_.set("sigil_ocsp_cached_responses", {{"issuer", issuer_id_.substr(0, 16)}}, static_cast<double>(cached));
}

Status OcspResponder::start() {
  SIGIL_TRY_STATUS(rotate_responder());
  SIGIL_TRY(seen_seq_, revocations_.revocation_sequence());
  thread_ = std::thread([this] { run(); });
  return {};
}

void OcspResponder::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void OcspResponder::run() {
  sweep();  // the first pre-signing pass, off the start-up path
  auto last_sweep = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.poll, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    apply_revocations();
    {
      std::shared_ptr<const Responder> r;
      {
        std::lock_guard rl(responder_mu_);
        r = responder_;
      }
      // Rotate the responder certificate once its renewal window opens (the one definition of
      // when to renew), unless it already lasts as long as the intermediate (a new one could not
      // last longer); after a failure, retry in a minute (not every poll).
      const auto steady = std::chrono::steady_clock::now();
      if (r && r->key && clock_.now() >= r->renew_at && r->not_after < authority_.cert.tbs().not_after &&
          steady >= next_rotation_try_) {
        if (auto s = rotate_responder(); !s) {
          log::error("OCSP responder rotation failed", {{"error", s.error().detail}});
          next_rotation_try_ = steady + std::chrono::minutes(1);
        }
      }
    }
    if (std::chrono::steady_clock::now() - last_sweep >= options_.sweep) {
      sweep();
      last_sweep = std::chrono::steady_clock::now();
    }
    lock.lock();
  }
}

}  // namespace sigil::revocation
