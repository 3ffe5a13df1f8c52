// Issuances per second with the intermediate's key in a PKCS#11 token (SoftHSM) beside the same
// issuance with a key file, in one process and one run: the Issuer's prepare()+issue() with a
// ledger that records nothing, on one thread and on N threads (the session pool lets the token
// sign in parallel), and the signature alone.
//
// Usage: pkcs11_bench MODULE TOKEN PIN [seconds-per-run=2] [runs=3] [threads=4]
// (SOFTHSM2_CONF must name the token's directory; keys are generated in the token if missing.)
#include <atomic>
#include <string>
#include <thread>

#include "ca/base/encoding.hpp"
#include "ca/crypto/pkcs11.hpp"
#include "ca/issuer/ceremony.hpp"
#include "tests/bench/issuer_bench.hpp"

using namespace sigil;
using benchmark::must;

namespace {

struct Rates {
  double one = 0, many = 0, sign = 0;
};

Rates measure(const crypto::Signer& ca_key, crypto::KeyType type, double seconds, int runs, int threads) {
  SystemClock clock;
  auto root_key = must(crypto::KeySigner::generate(type), "root key");
  auto root = must(issuer::make_root(*root_key, {"Bench CA"}, clock), "root");
  auto ca_csr = must(
      crypto::Csr::from_der(must(crypto::make_csr(ca_key, issuer::intermediate_subject("Bench CA"), {}), "ca csr")),
      "ca csr parse");
  auto ca_cert = must(issuer::sign_intermediate(*root_key, root, ca_csr, {}, clock), "intermediate");
  std::vector<std::string> csrs;
  for (int i = 0; i < 64; ++i) {
    auto k = must(crypto::KeySigner::generate(crypto::KeyType::ec_p256), "leaf key");
    csrs.emplace_back(as_chars(
        must(crypto::make_csr(*k, crypto::encode_name(""),
                              {{crypto::GeneralName::Type::dns, "host" + std::to_string(i) + ".bench.internal"}}),
             "csr")));
  }
  benchmark::NullLedger ledger;
  policy::IdentifierPolicy pol;
  pol.dns_suffixes = {"bench.internal"};
  auto is = must(issuer::Issuer::create(ca_key, std::move(ca_cert), pol, policy::Profiles::defaults(),
                                        {"http://localhost:8080", Seconds(300)}, clock, ledger),
                 "issuer");
  auto issue_one = [&](long i) {
    auto p = is->prepare({csrs[static_cast<std::size_t>(i % 64)], "server", std::nullopt, "bench"});
    if (!p) std::abort();
    auto out = is->issue(std::move(*p));
    if (!out || out->der.empty()) std::abort();
  };
  Rates r;
  r.one = benchmark::rate(issue_one, seconds, runs);
  // N threads for `seconds`, `runs` times: the median of the total rates.
  std::vector<double> totals;
  for (int run = 0; run < runs; ++run) {
    std::atomic<long> done{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        long i = t * 1000;
        while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
          issue_one(i++);
          ++done;
        }
      });
    for (auto& th : pool) th.join();
    totals.push_back(static_cast<double>(done) /
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  r.many = benchmark::median(totals);
  const Bytes tbs(300, 0x5a);
  r.sign = benchmark::rate([&](long) { must(ca_key.sign(tbs), "sign"); }, seconds, runs);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: pkcs11_bench MODULE TOKEN PIN [seconds] [runs] [threads]\n");
    return 2;
  }
  const std::string module = argv[1], token = argv[2], pin = argv[3];
  const double seconds = argc > 4 ? std::atof(argv[4]) : 2.0;
  const int runs = argc > 5 ? std::atoi(argv[5]) : 3;
  const int threads = argc > 6 ? std::atoi(argv[6]) : 4;
  for (crypto::KeyType type : {crypto::KeyType::ec_p256, crypto::KeyType::rsa_2048}) {
    const std::string name(crypto::to_string(type));
    auto uri = must(crypto::pkcs11::parse_uri("pkcs11:token=" + token + ";object=bench-" + name +
                                              "?module-path=" + module + "&pin-value=" + pin),
                    "uri");
    auto token_key = must(crypto::pkcs11::open_key(uri, {type, threads}), "token key");
    auto file_key = must(crypto::KeySigner::generate(type), "file key");
    const Rates f = measure(*file_key, type, seconds, runs, threads);
    const Rates p = measure(*token_key, type, seconds, runs, threads);
    std::printf(
        "key=%s threads=%d file: issuances_per_s=%.0f issuances_per_s_%dthreads=%.0f sign_per_s=%.0f | "
        "pkcs11: issuances_per_s=%.0f issuances_per_s_%dthreads=%.0f sign_per_s=%.0f | ratio_1thread=%.2f\n",
        name.c_str(), threads, f.one, threads, f.many, f.sign, p.one, threads, p.many, p.sign, p.one / f.one);
    std::fflush(stdout);
  }
  return 0;
}
