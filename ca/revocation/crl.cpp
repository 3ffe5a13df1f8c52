#include <algorithm>
#include <limits>
#include <set>

#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/revocation/revocation.hpp"

namespace sigil::revocation {

Result<PublishedCrl> build_crl(const crypto::Signer& key, const crypto::Certificate& ca, const std::string& issuer_id,
                               store::RevocationReader& reader, store::CrlStore& crls, TimePoint now, Seconds validity,
                               const CrlScope& scope) {
  auto ski = ca.subject_key_id();
  if (!ski) return make_error(Errc::invalid_argument, "the CA certificate has no subjectKeyIdentifier");
  const bool delta = scope.base_number.has_value();
  std::int64_t cutoff = scope.base_not_after_min;
  std::int64_t expected = 0;  // a delta CRL's few entries need no count
  if (!delta) {
    // An entry whose notAfter is before the previous complete CRL's thisUpdate was on that CRL
    // (or an earlier one) after it expired; every other one stays (RFC 5280 §3.3).
    SIGIL_TRY(const auto previous, crls.latest_crl_this_update(issuer_id, scope.shard, false));
    cutoff = previous ? std::min(*previous, to_unix(now)) : std::numeric_limits<std::int64_t>::min();
    SIGIL_TRY(expected, reader.count_revoked(issuer_id, scope.shard, cutoff));
  }
  SIGIL_TRY(const std::int64_t number, crls.next_crl_number(issuer_id, scope.shard));

  crypto::CrlSpec spec;
  spec.signature = key.signature_algorithm();
  spec.issuer.assign(ca.tbs().subject.begin(), ca.tbs().subject.end());
  spec.this_update = now;
  spec.next_update = now + validity;
  spec.authority_key_id = *ski;
  spec.crl_number = number;
  spec.idp_url = scope.idp_url;
  spec.base_crl_number = scope.base_number;
  if (!delta && !scope.freshest_url.empty()) spec.freshest_crl_urls = {scope.freshest_url};
  // A few more than counted: revocations may land between the count and the scan.
  crypto::CrlWriter w(spec, static_cast<std::size_t>(expected) + 64);
  std::uint8_t serial[20];
  auto add = [&](const store::RevokedSerial& r) -> Status {
    // Hex to octets without allocating: this runs a million times for a large CRL.
    const std::string& h = r.serial;
    if (h.empty() || h.size() % 2 != 0 || h.size() > 40) return make_error(Errc::storage, "bad serial in store: " + h);
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    const std::size_t n = h.size() / 2;
    for (std::size_t i = 0; i < n; ++i) serial[i] = static_cast<std::uint8_t>(nib(h[2 * i]) * 16 + nib(h[2 * i + 1]));
    w.add(crypto::ByteView(serial, n), from_unix(r.revoked_at), static_cast<int>(r.reason));
    return {};
  };
  if (delta) {
    SIGIL_TRY_STATUS(reader.for_each_revoked_since(issuer_id, scope.shard, scope.base_sequence, cutoff, add));
  } else {
    SIGIL_TRY_STATUS(reader.for_each_revoked(issuer_id, scope.shard, cutoff, add));
  }
  SIGIL_TRY(Bytes sig, key.sign(w.tbs()));
  PublishedCrl out;
  out.number = number;
  out.this_update = spec.this_update;
  out.next_update = spec.next_update;
  out.entries = w.count();
  out.der = w.finish(sig);
  out.shard = scope.shard;
  out.base_number = scope.base_number;
  out.not_after_min = cutoff;
  // The record borrows the DER for the save and gives it back: one copy of a large CRL.
  store::CrlRecord record{issuer_id,   number, to_unix(out.this_update), to_unix(out.next_update), std::move(out.der),
                          scope.shard, delta,  scope.base_number};
  const Status saved = crls.save_crl(record);
  out.der = std::move(record.der);
  SIGIL_TRY_STATUS(saved);
  return out;
}

CrlPublisher::CrlPublisher(const crypto::Signer& key, const crypto::Certificate& ca, std::string issuer_id,
                           store::RevocationReader& reader, store::CrlStore& crls, store::ClusterStore& cluster,
                           const Clock& clock, Metrics& metrics, CrlOptions options)
    : key_(key),
      ca_(ca),
      issuer_id_(std::move(issuer_id)),
      reader_(reader),
      crls_(crls),
      cluster_(cluster),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)) {}

std::optional<double> CrlPublisher::oldest_age() const {
  const auto snapshot = snapshot_.load();
  if (!snapshot) return std::nullopt;
  std::optional<TimePoint> oldest;
  for (const auto& [path, crl] : *snapshot)
    if (!crl->base_number && (!oldest || crl->this_update < *oldest)) oldest = crl->this_update;
  if (!oldest) return std::nullopt;
  return std::chrono::duration<double>(clock_.now() - *oldest).count();
}

CrlPublisher::~CrlPublisher() { stop(); }

std::shared_ptr<const PublishedCrl> CrlPublisher::current() const { return current_.load(); }

std::shared_ptr<const PublishedCrl> CrlPublisher::find(std::string_view path) const {
  const auto snapshot = snapshot_.load();
  if (!snapshot) return nullptr;
  const auto it = snapshot->find(path);
  return it == snapshot->end() ? nullptr : it->second;
}

std::map<std::string, std::shared_ptr<const PublishedCrl>, std::less<>> CrlPublisher::published() const {
  const auto snapshot = snapshot_.load();
  return snapshot ? *snapshot : Snapshot{};
}

Status CrlPublisher::rebuild() {
  std::lock_guard lock(build_mu_);
  return round(/*everything=*/true, /*revoked=*/false);
}

Status CrlPublisher::refresh_shards(TimePoint now) {
  const auto t = std::chrono::steady_clock::now();
  if (shards_.empty() || t - shards_read_at_ >= options_.shard_check) {
    // A shard whose certificates all expired stays for one CRL validity (rebuilt at half of it),
    // so that a CRL dated after the last expiry lists its expired entries.
    SIGIL_TRY(in_use_, reader_.crl_shards(issuer_id_, to_unix(now) - options_.validity.count()));
    shards_read_at_ = t;
  }
  // Shard 0 always (the issuer's CRL), the shards new certificates get, and every shard that a
  // certificate unexpired (or expired for less than a CRL validity) names, whatever the layout
  // was when it was issued.
  std::set<int> want{0};
  if (!options_.public_url.empty()) {
    if (options_.shards > 1)
      for (int k = 1; k <= options_.shards; ++k) want.insert(k);
    want.insert(in_use_.begin(), in_use_.end());
  } else if (!in_use_.empty() && in_use_.back() > 0) {
    log::warn("certificates name CRL shards, but public_url is empty: only shard 0's CRL is published");
  }
  for (auto it = shards_.begin(); it != shards_.end();) it = want.count(it->first) ? std::next(it) : shards_.erase(it);
  for (int k : want) {
    if (shards_.count(k)) continue;
    Shard s;
    s.shard = k;
    s.path = issuer::crl_path(ca_, k);
    s.delta_path = issuer::crl_path(ca_, k, true);
    shards_.emplace(k, std::move(s));
  }
  return {};
}

std::string CrlPublisher::idp_url_for(int shard) const {
  if (options_.public_url.empty()) return {};
  // Shard 0 is the issuer's whole scope (no IDP, as before sharding) while no other shard exists;
  // from then on it names its URL too, so that it claims no certificate of another shard.
  if (shard == 0 && (shards_.empty() || shards_.rbegin()->first == 0)) return {};
  return issuer::crl_url(options_.public_url, ca_, shard);
}

TimePoint CrlPublisher::next_this_update(const std::shared_ptr<const PublishedCrl>& previous) const {
  // thisUpdate is now, never later: a CRL dated in the future is "not yet valid" to relying
  // parties (openssl verify refuses it). Two CRLs in one second share it; the HTTP layer then
  // answers If-Modified-Since with 200 (PublishedCrl::same_second_as_previous).
  TimePoint now = std::chrono::time_point_cast<Seconds>(clock_.now());
  if (previous && now < previous->this_update) now = previous->this_update;  // the clock stepped back
  return now;
}

Status CrlPublisher::build_full(Shard& s, bool rebase, std::int64_t sequence, log::Level level) {
  const auto started = std::chrono::steady_clock::now();
  CrlScope scope;
  scope.shard = s.shard;
  scope.idp_url = idp_url_for(s.shard);
  if (options_.delta_interval.count() > 0)
    scope.freshest_url = issuer::crl_url(options_.public_url, ca_, s.shard, true);
  // A delta CRL has its base's scope: a complete CRL whose scope changed becomes the new base.
  if (scope.idp_url != s.base_idp_url) rebase = true;
  SIGIL_TRY(PublishedCrl crl,
            build_crl(key_, ca_, issuer_id_, reader_, crls_, next_this_update(s.full), options_.validity, scope));
  crl.same_second_as_previous = s.full && s.full->this_update == crl.this_update;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string shard = std::to_string(s.shard);
  metrics_.add("sigil_crl_builds_total", {{"kind", "full"}});
  metrics_.set("sigil_crl_number", {{"issuer", issuer_id_.substr(0, 16)}, {"shard", shard}, {"kind", "full"}},
               static_cast<double>(crl.number));
  metrics_.set("sigil_crl_entries", {{"issuer", issuer_id_.substr(0, 16)}, {"shard", shard}, {"kind", "full"}},
               static_cast<double>(crl.entries));
  log::write(level, "CRL published",
             {{"shard", shard},
              {"number", std::to_string(crl.number)},
              {"entries", std::to_string(crl.entries)},
              {"bytes", std::to_string(crl.der.size())},
              {"seconds", std::to_string(secs)}});
  if (rebase) {
    s.base_number = crl.number;
    s.base_sequence = sequence;
    s.base_not_after_min = crl.not_after_min;
    s.base_idp_url = scope.idp_url;
  }
  s.full = std::make_shared<const PublishedCrl>(std::move(crl));
  return {};
}

Status CrlPublisher::build_delta(Shard& s, log::Level level) {
  CrlScope scope;
  scope.shard = s.shard;
  scope.idp_url = s.base_idp_url;
  scope.base_number = s.base_number;
  scope.base_sequence = s.base_sequence;
  scope.base_not_after_min = s.base_not_after_min;
  SIGIL_TRY(PublishedCrl crl, build_crl(key_, ca_, issuer_id_, reader_, crls_, next_this_update(s.delta),
                                        2 * options_.delta_interval, scope));
  crl.same_second_as_previous = s.delta && s.delta->this_update == crl.this_update;
  const std::string shard = std::to_string(s.shard);
  metrics_.add("sigil_crl_builds_total", {{"kind", "delta"}});
  metrics_.set("sigil_crl_number", {{"issuer", issuer_id_.substr(0, 16)}, {"shard", shard}, {"kind", "delta"}},
               static_cast<double>(crl.number));
  metrics_.set("sigil_crl_entries", {{"issuer", issuer_id_.substr(0, 16)}, {"shard", shard}, {"kind", "delta"}},
               static_cast<double>(crl.entries));
  log::write(level, "delta CRL published",
             {{"shard", shard},
              {"number", std::to_string(crl.number)},
              {"base", std::to_string(s.base_number)},
              {"entries", std::to_string(crl.entries)}});
  s.delta = std::make_shared<const PublishedCrl>(std::move(crl));
  return {};
}

Result<bool> CrlPublisher::follow_kind(Shard& s, bool delta, bool eager) {
  std::shared_ptr<const PublishedCrl>& mine = delta ? s.delta : s.full;
  // The date first (no DER): most checks find nothing new.
  SIGIL_TRY(const auto saved_at, crls_.latest_crl_this_update(issuer_id_, s.shard, delta));
  if (!saved_at) return false;
  if (mine) {
    const std::int64_t ours = to_unix(mine->this_update);
    if (*saved_at < ours || (*saved_at == ours && !eager)) return false;
  }
  SIGIL_TRY(auto saved, crls_.latest_crl(issuer_id_, s.shard, delta));
  if (!saved || (mine && saved->number <= mine->number)) return false;
  PublishedCrl crl;
  crl.number = saved->number;
  crl.this_update = from_unix(saved->this_update);
  crl.next_update = from_unix(saved->next_update);
  crl.der = std::move(saved->der);  // entries stays 0: the signer counted them, not this node
  crl.shard = s.shard;
  crl.base_number = saved->base_number;
  crl.same_second_as_previous = mine && mine->this_update == crl.this_update;
  const std::string kind = delta ? "delta" : "full";
  metrics_.set("sigil_crl_number",
               {{"issuer", issuer_id_.substr(0, 16)}, {"shard", std::to_string(s.shard)}, {"kind", kind}},
               static_cast<double>(crl.number));
  log::write(log::Level::debug, "serving the CRL another node signed",
             {{"shard", std::to_string(s.shard)}, {"kind", kind}, {"number", std::to_string(crl.number)}});
  mine = std::make_shared<const PublishedCrl>(std::move(crl));
  return true;
}

Result<bool> CrlPublisher::follow(Shard& s, bool eager) {
  s.signing = false;
  SIGIL_TRY(const bool full, follow_kind(s, false, eager));
  bool delta = false;
  if (options_.delta_interval.count() > 0) {
    SIGIL_TRY(delta, follow_kind(s, true, eager));
  }
  return full || delta;
}

void CrlPublisher::publish() {
  auto snapshot = std::make_shared<Snapshot>();
  for (const auto& [k, s] : shards_) {
    if (s.full) snapshot->emplace(s.path, s.full);
    if (s.delta) snapshot->emplace(s.delta_path, s.delta);
  }
  snapshot_.store(std::move(snapshot));
  const auto zero = shards_.find(0);
  current_.store(zero == shards_.end() ? nullptr : zero->second.full);
}

Status CrlPublisher::round(bool everything, bool revoked) {
  const TimePoint now = clock_.now();
  const std::size_t before = shards_.size();
  SIGIL_TRY_STATUS(refresh_shards(now));
  bool changed = shards_.size() != before;
  std::optional<std::int64_t> seq;
  std::set<int> affected;
  if (revoked && !everything) {
    // Read before gathering: a revocation committed meanwhile shows as a newer sequence later.
    SIGIL_TRY(seq, reader_.revocation_sequence());
    const std::int64_t since = published_seq_.load();
    if (since < 0) {
      everything = true;
    } else {
      SIGIL_TRY(const std::vector<int> shards, reader_.revoked_shards_since(issuer_id_, since));
      affected.insert(shards.begin(), shards.end());
    }
  }
  // Shards another node signs: at every poll for a while after revocations, else now and then.
  const auto steady = std::chrono::steady_clock::now();
  if (revoked || everything) follow_until_ = steady + options_.follow_window;
  const bool eager = steady < follow_until_;
  const bool follow_due = eager || steady >= next_follow_;
  if (follow_due) next_follow_ = steady + options_.follow_check;
  const bool deltas = options_.delta_interval.count() > 0;
  std::map<int, Work> work;
  for (const auto& [k, s] : shards_) {
    Work w;
    // A complete CRL at half its validity is rebuilt and becomes the base of the next deltas.
    w.rebase = everything || !s.full || now >= s.full->this_update + options_.validity / 2;
    w.full = w.rebase || affected.count(k) > 0;
    w.delta = deltas && (w.full || !s.delta || now >= s.delta->this_update + options_.delta_interval);
    if (w.full || w.delta) work.emplace(k, w);
  }
  if (!work.empty() && !seq) {
    SIGIL_TRY(seq, reader_.revocation_sequence());
  }
  // One shard's failure must not hold back the others; the first error is reported. A round of
  // many shards logs one line, not one per CRL.
  const auto started = std::chrono::steady_clock::now();
  const log::Level level = work.size() <= 2 ? log::Level::info : log::Level::debug;
  Status result;
  int fulls = 0, deltas_built = 0;
  for (auto& [k, s] : shards_) {
    const auto due = work.find(k);
    if (due == work.end() && (s.signing || !follow_due)) continue;
    // Only the signer of a shard builds it; the others serve what it saved.
    auto held = cluster_.hold_crl_signer(issuer_id_, k);
    Status st = held ? Status{} : Status(held.error());
    if (held && !*held) {
      auto followed = follow(s, eager || due != work.end());
      if (followed && *followed) changed = true;
      if (!followed) st = followed.error();
    } else if (held) {
      Work w = due != work.end() ? due->second : Work{};
      if (!s.signing) {  // taking over: everything now, and a base of its own for the deltas
        w.rebase = w.full = true;
        w.delta = deltas;
      }
      s.signing = true;
      if (!seq) {
        auto read = reader_.revocation_sequence();
        if (!read) return read.error();
        seq = *read;
      }
      st = w.full ? build_full(s, w.rebase, *seq, level) : Status{};
      fulls += st && w.full ? 1 : 0;
      if (st && w.delta) {
        st = build_delta(s, level);
        deltas_built += st ? 1 : 0;
      }
    }
    if (!st && result) result = st;
  }
  changed = changed || fulls > 0 || deltas_built > 0;
  if (level == log::Level::debug) {
    log::info("CRLs published",
              {{"complete", std::to_string(fulls)},
               {"delta", std::to_string(deltas_built)},
               {"shards", std::to_string(shards_.size())},
               {"seconds",
                std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count())}});
  }
  if (changed) publish();
  if (result && (revoked || everything) && seq) published_seq_ = *seq;
  return result;
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
    const bool revoked = seq && *seq != published_seq_.load();
    if (!seq) log::error("cannot read the revocation sequence", {{"error", seq.error().detail}});
    lock.lock();
    // Revocations arrived: let a burst settle, then publish once.
    if (revoked) cv_.wait_for(lock, options_.debounce, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    Status st;
    {
      std::lock_guard build(build_mu_);
      st = round(/*everything=*/false, revoked);
    }
    lock.lock();
    if (!st) {
      metrics_.add("sigil_crl_build_failures_total", {});
      log::error("CRL build failed; retrying in 5s", {{"error", st.error().detail}});
      cv_.wait_for(lock, std::chrono::seconds(5), [&] { return stopping_; });
    }
    cv_.wait_for(lock, options_.poll, [&] { return stopping_; });
  }
}

}  // namespace sigil::revocation
