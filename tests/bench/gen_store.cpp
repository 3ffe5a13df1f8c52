// Generator: fills the store of a CA home made by `sigil init` with N certificates and R
// revocations, for ops/bench/scale.sh (issue 14 target 5: state at scale). Everything goes
// through the public interfaces the server itself uses: issuer::Issuer::prepare/issue (every
// check, a real DER certificate signed by the home's intermediate, reserve + complete with their
// audit rows in the store) and revocation::Revoker::revoke. So the rows are exactly what serving
// writes, on whichever engine sigil.json names (a SQLite file or a postgresql:// URL).
//
// Usage: gen_store HOME N R [threads=32] [names=5000]
//   HOME   a home made by `sigil init --allow-domain scale.test`
//   N      certificates to issue; R of them are then revoked
//
// Speed comes from the store's group commit: `threads` workers issue concurrently and their
// writes share transactions (one fsync a batch). Each worker has its own Issuer on its own fake
// clock, set per certificate, so issuance times spread over the last 100 days: with the
// profiles' 90- (server) and 60-day (client) lifetimes, not_after spreads over the next 90 days
// and about a sixth have expired. Names: `names` CSRs (P-256 keys, host<i>.scale.test, a
// quarter with a second name) made up front and reused, as renewals reuse names; the key repeats
// with the name, which the issuer allows (no keyCompromise revocations are made, which would
// block it).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ca/base/metrics.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/revocation/revoker.hpp"
#include "ca/service/home.hpp"

using namespace sigil;

namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kSpreadDays = 100;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "gen_store: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T must(Result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().detail);
  return std::move(r).value();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

struct Csr {
  std::string der;  // Request::csr takes PEM or DER bytes as a string
};

std::vector<Csr> make_csrs(int count) {
  std::vector<Csr> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto key = must(crypto::KeySigner::generate(crypto::KeyType::ec_p256), "key");
    const std::string host = "host" + std::to_string(i) + ".scale.test";
    std::vector<crypto::GeneralName> sans{{crypto::GeneralName::Type::dns, host}};
    if (i % 4 == 0) sans.push_back({crypto::GeneralName::Type::dns, "www." + host});
    Bytes der = must(crypto::make_csr(*key, crypto::encode_name(host), sans), "csr");
    out.push_back({std::string(der.begin(), der.end())});
  }
  return out;
}

// Runs fn(worker, index) for index in [0, n) on `threads` threads.
template <class Fn>
void parallel(int threads, std::int64_t n, Fn fn) {
  std::atomic<std::int64_t> next{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < threads; ++w)
    pool.emplace_back([&, w] {
      for (std::int64_t i; (i = next.fetch_add(1)) < n;) fn(w, i);
    });
  for (auto& t : pool) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) die("usage: gen_store HOME N R [threads=32] [names=5000]");
  const std::string home = argv[1];
  const std::int64_t n = std::atoll(argv[2]);
  const std::int64_t r = std::atoll(argv[3]);
  const int threads = argc > 4 ? std::atoi(argv[4]) : 32;
  const int names = argc > 5 ? std::atoi(argv[5]) : 5000;
  if (n < 1 || r < 0 || r > n || threads < 1 || names < 1) die("bad arguments");

  auto ctx = must(service::open_issuer(home), "open home");
  const auto profiles = must(ctx->config.effective_profiles(), "profiles");
  const std::int64_t now = to_unix(ctx->clock.now());
  const auto started = std::chrono::steady_clock::now();
  const std::vector<Csr> csrs = make_csrs(names);
  std::fprintf(stderr, "gen_store: %d CSRs in %.1f s\n", names, seconds_since(started));

  // Per worker: its own clock and Issuer over the one store (the ledger is thread-safe).
  std::vector<std::unique_ptr<FakeClock>> clocks;
  std::vector<std::unique_ptr<issuer::Issuer>> issuers;
  for (int w = 0; w < threads; ++w) {
    clocks.push_back(std::make_unique<FakeClock>(from_unix(now)));
    issuers.push_back(
        must(issuer::Issuer::create(*ctx->key, must(service::load_certificate(ctx->home.ca_cert()), "ca cert"),
                                    ctx->config.policy, profiles, {ctx->config.public_url, ctx->config.backdate},
                                    *clocks.back(), *ctx->store),
             "issuer"));
    if (auto st = issuers.back()->update_crl_layout(service::crl_layout(ctx->config)); !st)
      die("crl layout: " + st.error().detail);
  }

  std::vector<std::string> serials(static_cast<std::size_t>(n));
  std::atomic<std::int64_t> done{0};
  const auto issue_start = std::chrono::steady_clock::now();
  parallel(threads, n, [&](int w, std::int64_t i) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL + 1);
    const bool client = rng() % 4 == 0;
    // Issued at a uniform time over the last kSpreadDays days (i's order, so created_at grows).
    const std::int64_t at = now - kSpreadDays * kDay + (kSpreadDays * kDay * i) / n;
    clocks[static_cast<std::size_t>(w)]->set(from_unix(at));
    const Csr& csr = csrs[rng() % csrs.size()];
    issuer::Request req{
        csr.der, client ? "client" : "server", Seconds((client ? 60 : 90) * kDay),
        client ? "api:svc-" + std::to_string(rng() % 50) : "acme:account-" + std::to_string(rng() % 200), nullptr};
    auto& iss = *issuers[static_cast<std::size_t>(w)];
    auto prepared = must(iss.prepare(req), "prepare");
    auto issued = must(iss.issue(std::move(prepared)), "issue");
    serials[static_cast<std::size_t>(i)] = issued.serial;
    if (const auto d = done.fetch_add(1) + 1; d % 100000 == 0)
      std::fprintf(stderr, "gen_store: %lld issued, %.0f/s\n", static_cast<long long>(d),
                   static_cast<double>(d) / seconds_since(issue_start));
  });
  const double issue_s = seconds_since(issue_start);

  // R revocations spread evenly over the issued ones, each at a time after its issuance.
  Metrics metrics;
  std::vector<std::unique_ptr<revocation::Revoker>> revokers;
  for (int w = 0; w < threads; ++w)
    revokers.push_back(std::make_unique<revocation::Revoker>(*ctx->store, *ctx->issuer, *clocks[w], metrics));
  static constexpr store::RevocationReason kReasons[] = {
      store::RevocationReason::unspecified, store::RevocationReason::superseded,
      store::RevocationReason::cessation_of_operation, store::RevocationReason::affiliation_changed};
  const auto revoke_start = std::chrono::steady_clock::now();
  parallel(threads, r, [&](int w, std::int64_t k) {
    const std::int64_t i = k * n / std::max<std::int64_t>(r, 1);
    const std::int64_t issued_at = now - kSpreadDays * kDay + (kSpreadDays * kDay * i) / n;
    clocks[static_cast<std::size_t>(w)]->set(from_unix(std::min(now, issued_at + kDay)));
    auto& revoker = *revokers[static_cast<std::size_t>(w)];
    auto record = must(revoker.find(serials[static_cast<std::size_t>(i)]), "find");
    if (!record) die("issued certificate not found: " + serials[static_cast<std::size_t>(i)]);
    must(revoker.revoke(*record, {kReasons[k % 4], "cli:gen_store", ""}), "revoke");
  });
  const double revoke_s = seconds_since(revoke_start);
  const std::int64_t rows = must(ctx->store->count(), "count");
  std::printf(
      "gen_store engine=%s certificates=%lld revoked=%lld issue_s=%.1f issue_per_s=%.0f revoke_s=%.1f "
      "revoke_per_s=%.0f rows=%lld\n",
      store::to_string(ctx->store->engine()), static_cast<long long>(n), static_cast<long long>(r), issue_s,
      static_cast<double>(n) / issue_s, revoke_s, static_cast<double>(r) / std::max(revoke_s, 1e-9),
      static_cast<long long>(rows));
  return 0;
}
