#pragma once
// What the in-process issuance benchmarks share (issue_bench, pkcs11_bench): a ledger that records
// nothing, a rate loop with the median of its runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ca/issuer/issuer.hpp"

namespace sigil::benchmark {

class NullLedger final : public store::CertificateLedger {
 public:
  Status reserve(const store::PendingCertificate&, const store::AuditEntry&) override { return {}; }
  Status complete(const std::string&, const Bytes&, const store::AuditEntry&) override { return {}; }
  Result<std::optional<store::CertificateRecord>> find(const std::string&) override {
    return std::optional<store::CertificateRecord>{};
  }
  Result<store::Page> list(const store::ListFilter&) override { return store::Page{}; }
  Status revoke(const std::string&, std::int64_t, store::RevocationReason, const std::string&,
                const store::AuditEntry&) override {
    return {};
  }
  Result<std::optional<store::BlockedKey>> blocked_key(const std::string&) override {
    return std::optional<store::BlockedKey>{};
  }
  Result<std::int64_t> flag_for_renewal(const std::optional<std::string>&, std::optional<std::int64_t>, std::int64_t,
                                        const store::AuditEntry&) override {
    return std::int64_t(0);
  }
  Result<std::optional<std::int64_t>> renewal_flagged_at(const std::string&) override {
    return std::optional<std::int64_t>();
  }
};

template <class T>
T must(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().detail.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs `one` repeatedly for `seconds`, `runs` times; returns the median rate per second.
template <class F>
double rate(F&& one, double seconds, int runs) {
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    long n = 0;
    double elapsed = 0;
    do {
      for (int i = 0; i < 64; ++i) one(n++);
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < seconds);
    rates.push_back(static_cast<double>(n) / elapsed);
  }
  return median(rates);
}

}  // namespace sigil::benchmark
