#pragma once
// The gauges `sigil serve` exposes for alerting (ops/prometheus/rules.yml): the CA's own
// certificates' remaining life, the nodes' heartbeats, certificates whose renewal is overdue.
// The thresholds are health.hpp's: an alert and `sigil status` agree.
#include "ca/base/metrics.hpp"
#include "ca/service/home.hpp"

namespace sigil::service {

// Registers the gauges on `metrics`; `ctx` outlives it. Each is computed at scrape time; the
// overdue-renewal counts are cached for 30 s (they read the store).
void register_health_gauges(Metrics& metrics, IssuerContext& ctx);

}  // namespace sigil::service
