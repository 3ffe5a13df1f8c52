#pragma once
// This node as the others and the load balancer see it: a heartbeat row in the store every
// second (store::ClusterStore::heartbeat: a write, so it proves the database reachable and
// writable), a signing test with the intermediate's key, and the TLS certificate's validity.
// GET /health reads the outcome (api::Readiness) from memory; it never waits on any of them.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ca/api/api.hpp"
#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "store/store.hpp"

namespace sigil::service {

// A random id for this process (hex), fresh at every start.
std::string new_node_id();
// gethostname(), or "unknown".
std::string host_name();
// The version the heartbeat reports (the build's).
const char* sigil_version();

struct ReadinessOptions {
  std::chrono::milliseconds interval{1000};  // a heartbeat and the checks this often
  std::chrono::milliseconds deadline{2000};  // a heartbeat slower than this counts as failed
  std::chrono::milliseconds fresh{3000};     // ready only if the last good heartbeat is this recent
};

class Readiness {
 public:
  struct Probes {
    std::function<Status()> signer;            // signs a fixed digest with the issuing key
    std::function<TimePoint()> tls_not_after;  // the served TLS certificate's notAfter
  };
  // `self`: id, hostname, urls, version, started_at (last_seen is set at each beat). Times come
  // from `clock` (a heartbeat's duration too, so tests move it instead of sleeping).
  Readiness(store::ClusterStore& cluster, const Clock& clock, store::NodeRecord self, Probes probes,
            ReadinessOptions options = {});
  ~Readiness();
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  void set_urls(std::string urls);  // once the listeners are bound
  void start();                     // the background job: check() every interval
  void stop();
  void check();  // one heartbeat and the checks, now (the job's step; tests call it)
  api::Readiness state() const;
  const std::string& node_id() const { return self_.id; }

 private:
  store::ClusterStore& cluster_;
  const Clock& clock_;
  store::NodeRecord self_;
  Probes probes_;
  ReadinessOptions options_;

  mutable std::mutex mu_;               // the outcome of the last check, and the job's stop flag
  std::optional<TimePoint> last_beat_;  // the last heartbeat that succeeded within the deadline
  std::string database_detail_ = "no heartbeat yet";
  std::string signer_detail_ = "not checked yet";
  bool signer_ok_ = false, database_ok_ = false;
  bool checked_ = false;  // check() ran once
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sigil::service
