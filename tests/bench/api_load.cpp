// Load generator for the REST API: N threads, each with one keep-alive mTLS connection,
// POST /api/v1/certificates in a loop for a fixed time. Prints requests/s and latency
// percentiles. Bounded by construction (duration and connection count).
//
// Usage: api_load URL CA_PEM CERT_PEM KEY_PEM CONCURRENCY SECONDS
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/http/client.hpp"

using namespace sigil;

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: api_load URL CA CERT KEY CONCURRENCY SECONDS\n");
    return 2;
  }
  const std::string url = argv[1];
  http::ClientOptions opts;
  opts.ca_pem = read_file(argv[2]).value();
  opts.cert_pem = read_file(argv[3]).value();
  opts.key_pem = read_file(argv[4]).value();
  const int concurrency = std::max(1, std::atoi(argv[5]));
  const double seconds = std::atof(argv[6]);

  // One CSR per thread (made before the clock starts).
  std::vector<std::string> bodies;
  for (int i = 0; i < concurrency; ++i) {
    auto key = crypto::KeySigner::generate(crypto::KeyType::ec_p256).value();
    auto der = crypto::make_csr(*key, crypto::encode_name(""),
                                {{crypto::GeneralName::Type::dns, "load" + std::to_string(i) + ".bench.localhost"}})
                   .value();
    bodies.push_back(
        nlohmann::json{{"csr", pem_encode("CERTIFICATE REQUEST", der)}, {"profile", "server"}, {"ttl", "1h"}}.dump());
  }

  std::atomic<long> ok{0}, failed{0};
  std::mutex mu;
  std::vector<double> latencies;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto client = http::Client::create(url, opts);
      if (!client) {
        std::fprintf(stderr, "client: %s\n", client.error().detail.c_str());
        failed++;
        return;
      }
      std::vector<double> mine;
      while (std::chrono::steady_clock::now() < deadline) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = (*client)->request("POST", "/api/v1/certificates", bodies[static_cast<std::size_t>(t)],
                                    {{"Content-Type", "application/json"}});
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r && r->status == 201) {
          ok++;
          mine.push_back(ms);
        } else {
          failed++;
          if (failed.load() < 3)
            std::fprintf(stderr, "request failed: %s\n",
                         r ? (std::to_string(r->status) + " " + r->body).c_str() : r.error().detail.c_str());
        }
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0
                             : latencies[std::min(latencies.size() - 1,
                                                  static_cast<std::size_t>(p * static_cast<double>(latencies.size())))];
  };
  std::printf("concurrency=%d requests_per_s=%.0f ok=%ld failed=%ld p50_ms=%.2f p99_ms=%.2f\n", concurrency,
              static_cast<double>(ok.load()) / elapsed, ok.load(), failed.load(), pct(0.5), pct(0.99));
  return failed.load() == 0 ? 0 : 1;
}
