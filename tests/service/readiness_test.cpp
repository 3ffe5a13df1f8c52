// service::Readiness: the heartbeat into the real SQLite store, and GET /health as every listener
// serves it (the api router over the test CA), turning 503 with the failing part named when the
// database stops taking heartbeats, the signer fails or the TLS certificate expires, and back.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "ca/api/api.hpp"
#include "ca/revocation/revoker.hpp"
#include "ca/service/readiness.hpp"
#include "tests/support/test_ca.hpp"

using namespace sigil;
using namespace sigil::test;
using nlohmann::json;

namespace {

// The real store, with a switch that makes heartbeats fail (a failover: the database refuses
// writes) or take longer than the deadline (the fake clock moves while it "waits").
class FlakyCluster final : public store::ClusterStore {
 public:
  FlakyCluster(store::ClusterStore& inner, FakeClock& clock) : inner_(inner), clock_(clock) {}
  Result<bool> spend_nonce(const std::string& n, std::int64_t e, std::int64_t now) override {
    return inner_.spend_nonce(n, e, now);
  }
  Status heartbeat(const store::NodeRecord& node) override {
    if (down) return make_error(Errc::unavailable, "SQLSTATE 25006: cannot execute INSERT in a read-only transaction");
    if (slow) clock_.advance(std::chrono::milliseconds(2500));
    return inner_.heartbeat(node);
  }
  Result<std::vector<store::NodeRecord>> nodes(std::int64_t since) override { return inner_.nodes(since); }
  Result<bool> hold_crl_signer(const std::string& id, int shard) override { return inner_.hold_crl_signer(id, shard); }
  bool down = false, slow = false;

 private:
  store::ClusterStore& inner_;
  FakeClock& clock_;
};

struct Node {
  Node()
      : cluster(*ca.db, ca.clock),
        readiness(cluster, ca.clock, {"n1", "host-a", "https://a:1", "9.9", to_unix(ca.clock.now()), 0},
                  {[this]() -> Status { return signer_ok ? Status{} : make_error(Errc::internal, "token gone"); },
                   [this] { return tls_not_after; }}),
        policy(std::make_shared<const authz::Policy>(std::vector<authz::Rule>{})),
        deps{ca.issuer(), revoker, *ca.db,
             *ca.db,      *ca.db,  policy,
             ca.clock,    metrics, [this] { return readiness.state(); }},
        router(api::api_router(deps)) {}

  http::Response get(const std::string& path) {
    http::Request req;
    req.method = "GET";
    http::set_target(req, path);
    req.listener = "api";
    return router->dispatch(req);
  }
  static std::string header(const http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }

  TestCa ca;
  FlakyCluster cluster;
  bool signer_ok = true;
  TimePoint tls_not_after = ca.clock.now() + Seconds(3600);
  service::Readiness readiness;
  Metrics metrics;
  revocation::Revoker revoker{*ca.db, ca.issuer(), ca.clock, metrics};
  std::atomic<std::shared_ptr<const authz::Policy>> policy;
  api::Deps deps;
  std::shared_ptr<const http::Router> router;
};

// 503 naming exactly `failing`, with Retry-After and no internal detail.
void check_unavailable(Node& n, const std::vector<std::string>& failing) {
  auto r = n.get("/health");
  CHECK(r.status == 503);
  CHECK(Node::header(r, "Retry-After") == "2");
  auto j = json::parse(r.body);
  CHECK(j["status"] == "unavailable");
  CHECK(j["failing"] == failing);
  CHECK(j["detail"].is_string());
  CHECK(r.body.find("SQLSTATE") == std::string::npos);
  CHECK(r.body.find("token gone") == std::string::npos);
  CHECK(n.get("/health/live").status == 200);  // liveness does not depend on any of it
}

}  // namespace

TEST_CASE("readiness: /health follows the heartbeat, the signer and the TLS certificate") {
  Node n;
  // Nothing checked yet: not ready (a load balancer must not route to a node still starting).
  check_unavailable(n, {"database", "signer"});
  n.readiness.check();
  auto ok = n.get("/health");
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body) == json{{"status", "ok"}, {"node", "n1"}});
  // The heartbeat is a row in the store that every node (and `sigil status`) reads.
  auto seen = n.ca.db->nodes(to_unix(n.ca.clock.now()) - 10);
  REQUIRE(seen.has_value());
  REQUIRE(seen->size() == 1);
  CHECK(seen->front().id == "n1");
  CHECK(seen->front().hostname == "host-a");
  CHECK(seen->front().last_seen == to_unix(n.ca.clock.now()));

  // A database outage (`flag` set while one heartbeat runs): 503 naming it at once, 200 again
  // after the next good heartbeat.
  auto outage = [&n](bool& flag) {
    flag = true;
    n.readiness.check();
    check_unavailable(n, {"database"});
    flag = false;
    n.readiness.check();
    CHECK(n.get("/health").status == 200);
  };
  outage(n.cluster.down);  // the database refuses the heartbeat
  outage(n.cluster.slow);  // a heartbeat slower than the 2 s deadline counts as failed

  // No heartbeat for more than 3 s (the job stalled on a hung connection): 503.
  n.ca.clock.advance(std::chrono::milliseconds(3001));
  check_unavailable(n, {"database"});
  n.readiness.check();
  CHECK(n.get("/health").status == 200);

  // The signer, then the TLS certificate too.
  n.signer_ok = false;
  n.readiness.check();
  check_unavailable(n, {"signer"});
  n.tls_not_after = n.ca.clock.now();
  check_unavailable(n, {"signer", "tls"});
  n.signer_ok = true;
  n.tls_not_after = n.ca.clock.now() + Seconds(3600);
  n.readiness.check();
  CHECK(n.get("/health").status == 200);
}

TEST_CASE("readiness: the background job beats every interval and stops") {
  Node n;
  service::Readiness r(
      *n.ca.db, n.ca.clock, {"n2", "host-b", "", "9.9", 0, 0}, {},
      {std::chrono::milliseconds(20), std::chrono::milliseconds(2000), std::chrono::milliseconds(3000)});
  r.start();
  for (int i = 0; i < 200 && !r.state().failing.empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(r.state().failing.empty());
  r.stop();
  auto seen = n.ca.db->nodes(0);
  REQUIRE(seen.has_value());
  CHECK(seen->size() == 1);
  CHECK(service::new_node_id() != service::new_node_id());
  CHECK(service::new_node_id().size() == 16);
}
