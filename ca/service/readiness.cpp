#include "ca/service/readiness.hpp"

#include <unistd.h>

#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/crypto/crypto.hpp"

#ifndef SIGIL_VERSION
#define SIGIL_VERSION "0.0.0"
#endif

namespace sigil::service {

std::string new_node_id() { return to_hex(crypto::random_bytes(8)); }

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

const char* sigil_version() { return SIGIL_VERSION; }

Readiness::Readiness(store::ClusterStore& cluster, const Clock& clock, store::NodeRecord self, Probes probes,
                     ReadinessOptions options)
    : cluster_(cluster), clock_(clock), self_(std::move(self)), probes_(std::move(probes)), options_(options) {}

Readiness::~Readiness() { stop(); }

void Readiness::set_urls(std::string urls) {
  std::lock_guard lock(mu_);
  self_.urls = std::move(urls);
}

void Readiness::check() {
  store::NodeRecord beat;
  {
    std::lock_guard lock(mu_);
    beat = self_;
  }
  const TimePoint started = clock_.now();
  beat.last_seen = to_unix(started);
  const Status stored = cluster_.heartbeat(beat);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - started);
  std::string database;  // why the heartbeat counts as failed; empty: it did not
  if (!stored) {
    database = "the database did not record this node's heartbeat";
  } else if (took > options_.deadline) {
    database = "the database took " + std::to_string(took.count()) + " ms to record the heartbeat (deadline " +
               std::to_string(options_.deadline.count()) + " ms)";
  }
  // A fixed message, signed and verified: the key (file or token) is usable.
  Status signed_ok = probes_.signer ? probes_.signer() : Status{};

  std::lock_guard lock(mu_);
  // Changes are logged, once each, with the store's own detail (which stays out of /health).
  if (database.empty()) {
    if (!database_ok_ && checked_) log::info("the database records heartbeats again: ready");
    last_beat_ = started;
    database_detail_.clear();
  } else {
    if (database_ok_ || !checked_)
      log::error("heartbeat failed: not ready", {{"detail", stored ? database : stored.error().detail}});
    database_detail_ = database;
  }
  database_ok_ = database.empty();
  if (!signed_ok && (signer_ok_ || !checked_))
    log::error("the signer failed its check: not ready", {{"detail", signed_ok.error().detail}});
  if (signed_ok && !signer_ok_ && checked_) log::info("the signer works again");
  signer_ok_ = static_cast<bool>(signed_ok);
  signer_detail_ = signed_ok ? "" : "the issuing key could not sign";
  checked_ = true;
}

api::Readiness Readiness::state() const {
  const TimePoint now = clock_.now();
  api::Readiness r;
  std::vector<std::string> details;
  std::lock_guard lock(mu_);
  r.node = self_.id;
  // The latest heartbeat failed, or none succeeded lately (the job hangs on the database).
  if (!database_ok_ || !last_beat_ || now - *last_beat_ > options_.fresh) {
    r.failing.push_back("database");
    details.push_back(!database_detail_.empty() ? database_detail_
                      : last_beat_
                          ? "no heartbeat recorded for " +
                                std::to_string(std::chrono::duration_cast<Seconds>(now - *last_beat_).count()) + " s"
                          : "no heartbeat yet");
  }
  if (!signer_ok_) {
    r.failing.push_back("signer");
    details.push_back(signer_detail_);
  }
  // The served certificate, against the time of this request.
  if (probes_.tls_not_after && now >= probes_.tls_not_after()) {
    r.failing.push_back("tls");
    details.push_back("the server's TLS certificate has expired");
  }
  for (const auto& d : details) r.detail += (r.detail.empty() ? "" : "; ") + d;
  return r;
}

void Readiness::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      check();
      lock.lock();
      cv_.wait_for(lock, options_.interval, [&] { return stopping_; });
    }
  });
}

void Readiness::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sigil::service
