#include "ca/service/gauges.hpp"

#include <mutex>

#include "ca/service/health.hpp"

namespace sigil::service {

namespace {
double seconds_until(TimePoint t, TimePoint now) { return std::chrono::duration<double>(t - now).count(); }

// health::unrenewed, at most once per 30 s whatever the scrape rate; -1 when the store failed.
class UnrenewedCache {
 public:
  explicit UnrenewedCache(IssuerContext& ctx) : ctx_(ctx) {}
  health::Unrenewed get() {
    std::lock_guard lock(mu_);
    const TimePoint now = ctx_.clock.now();
    if (now - at_ >= kMaxAge) {
      auto u = health::unrenewed(*ctx_.store, now);
      last_ = u ? *u : health::Unrenewed{-1, -1};
      at_ = now;
    }
    return last_;
  }

 private:
  static constexpr Seconds kMaxAge{30};
  IssuerContext& ctx_;
  std::mutex mu_;
  TimePoint at_{};
  health::Unrenewed last_;
};
}  // namespace

void register_health_gauges(Metrics& metrics, IssuerContext& ctx) {
  metrics.describe("sigil_server_certificate_renewals_total", "counter", "Renewals of the server's own certificate");
  metrics.gauge_fn("sigil_intermediate_expiry_seconds", "Seconds until the issuing intermediate expires",
                   [&ctx] { return seconds_until(ctx.issuer->certificate().tbs().not_after, ctx.clock.now()); });
  metrics.gauge_fn("sigil_admin_certificate_expiry_seconds",
                   "Seconds until the home's admin certificate expires (-1e9 when unreadable)", [&ctx] {
                     auto cert = load_certificate(ctx.home.admin_cert());
                     return cert ? seconds_until(cert->tbs().not_after, ctx.clock.now()) : -1e9;
                   });
  // Nodes heard from within health::kNodesShown: live if within kNodeStale, else stale (a node
  // that stopped cleanly is neither). -1 when the store failed.
  auto nodes = [&ctx](bool want_stale) {
    const std::int64_t now = to_unix(ctx.clock.now());
    auto list = ctx.store->nodes(now - health::kNodesShown.count());
    if (!list) return -1.0;
    double n = 0;
    for (const auto& node : *list)
      if ((node.last_seen < now - health::kNodeStale.count()) == want_stale) ++n;
    return n;
  };
  metrics.gauge_fn("sigil_nodes_live", "Serve nodes whose heartbeat is current", [nodes] { return nodes(false); });
  metrics.gauge_fn("sigil_nodes_stale", "Serve nodes heard from in the last 10 minutes whose heartbeat stopped",
                   [nodes] { return nodes(true); });
  auto cache = std::make_shared<UnrenewedCache>(ctx);
  metrics.gauge_fn("sigil_certificates_renewal_overdue",
                   "Valid certificates past their renewal window with no newer certificate for the same names",
                   [cache] { return static_cast<double>(cache->get().overdue); });
  metrics.gauge_fn("sigil_certificates_unrenewed_expiring_7d",
                   "Certificates whose renewal is overdue and that expire within 7 days",
                   [cache] { return static_cast<double>(cache->get().expiring); });
}

}  // namespace sigil::service
