// Load generator for certificate issuance over HTTP: N threads, each with one keep-alive
// connection, POSTing issuance requests in a loop for a fixed time. Prints requests/s and
// latency percentiles. Bounded by construction (duration and connection count).
//
// Two servers, one client code path, so that their figures compare:
//   sigil: mTLS, POST /api/v1/certificates {"csr", "profile": "server", "ttl": "1h"}; success is
//          201 with a PEM certificate in "certificate".
//   cfssl: `cfssl serve` (plain HTTP), POST /api/v1/cfssl/sign {"certificate_request"}; success is
//          200 with "success": true and a PEM certificate in result.certificate.
// Anything else counts as a failure; the first few are printed.
//
// Usage: api_load URL CA_PEM CERT_PEM KEY_PEM CONCURRENCY SECONDS
//        api_load --cfssl URL CONCURRENCY SECONDS
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/http/client.hpp"
#include "tests/bench/latencies.hpp"

using namespace sigil;

namespace {

enum class Peer { sigil, cfssl };

struct Target {
  Peer peer = Peer::sigil;
  std::string path;
  int expected_status = 201;
};

std::string request_body(Peer peer, const std::string& csr_pem) {
  if (peer == Peer::cfssl) return nlohmann::json{{"certificate_request", csr_pem}}.dump();
  return nlohmann::json{{"csr", csr_pem}, {"profile", "server"}, {"ttl", "1h"}}.dump();
}

// A response counts only if it carries a certificate: a 2xx with an error inside is a failure.
bool has_certificate(Peer peer, const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  const nlohmann::json* cert = nullptr;
  if (peer == Peer::cfssl) {
    if (!j.value("success", false) || !j.contains("result") || !j["result"].is_object()) return false;
    cert = j["result"].contains("certificate") ? &j["result"]["certificate"] : nullptr;
  } else {
    cert = j.contains("certificate") ? &j["certificate"] : nullptr;
  }
  return cert && cert->is_string() && cert->get_ref<const std::string&>().find("-----BEGIN CERTIFICATE-----") == 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: api_load URL CA CERT KEY CONCURRENCY SECONDS\n"
               "       api_load --cfssl URL CONCURRENCY SECONDS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Target target;
  http::ClientOptions opts;
  std::string url;
  int concurrency = 1;
  double seconds = 1;
  if (argc == 5 && std::string_view(argv[1]) == "--cfssl") {
    target = {Peer::cfssl, "/api/v1/cfssl/sign", 200};
    url = argv[2];
    concurrency = std::atoi(argv[3]);
    seconds = std::atof(argv[4]);
  } else if (argc == 7) {
    target = {Peer::sigil, "/api/v1/certificates", 201};
    url = argv[1];
    opts.ca_pem = read_file(argv[2]).value();
    opts.cert_pem = read_file(argv[3]).value();
    opts.key_pem = read_file(argv[4]).value();
    concurrency = std::atoi(argv[5]);
    seconds = std::atof(argv[6]);
  } else {
    return usage();
  }
  concurrency = std::max(1, concurrency);

  // One CSR per thread (made before the clock starts).
  std::vector<std::string> bodies;
  for (int i = 0; i < concurrency; ++i) {
    auto key = crypto::KeySigner::generate(crypto::KeyType::ec_p256).value();
    auto der = crypto::make_csr(*key, crypto::encode_name(""),
                                {{crypto::GeneralName::Type::dns, "load" + std::to_string(i) + ".bench.localhost"}})
                   .value();
    bodies.push_back(request_body(target.peer, pem_encode("CERTIFICATE REQUEST", der)));
  }

  std::atomic<long> ok{0}, failed{0};
  bench::Latencies latencies;
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
        auto r = (*client)->request("POST", target.path, bodies[static_cast<std::size_t>(t)],
                                    {{"Content-Type", "application/json"}});
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r && r->status == target.expected_status && has_certificate(target.peer, r->body)) {
          ok++;
          mine.push_back(ms);
        } else if (++failed <= 3) {
          std::fprintf(
              stderr, "request failed: %s\n",
              r ? (std::to_string(r->status) + " " + r->body.substr(0, 300)).c_str() : r.error().detail.c_str());
        }
      }
      latencies.merge(mine);
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto pct = [&](double p) { return latencies.percentile(p); };
  std::printf("concurrency=%d requests_per_s=%.0f ok=%ld failed=%ld p50_ms=%.2f p99_ms=%.2f\n", concurrency,
              static_cast<double>(ok.load()) / elapsed, ok.load(), failed.load(), pct(0.5), pct(0.99));
  return failed.load() == 0 ? 0 : 1;
}
