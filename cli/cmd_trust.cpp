// sigil trust export: the roots every runtime must trust, as one bundle (PEM for OS stores,
// curl, Go, Python; PKCS#12 for Java keytool and .NET). The home's root, plus any roots staged
// for a rollover in ca/extra-roots.pem (publish a new root everywhere before issuing from it).
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/crypto/crypto.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {

struct TrustOptions {
  std::string format = "pem";
  std::string out;
  std::string password = "changeit";
};

Status run_export(const Globals& g, const TrustOptions& o) {
  Home home{g.home};
  SIGIL_TRY(auto certs, load_roots(home));
  std::vector<const crypto::Certificate*> roots;
  for (const auto& c : certs) roots.push_back(&c);
  std::string data;
  if (o.format == "pem") {
    for (const auto* c : roots) data += c->pem();
  } else {
    if (o.out.empty() && isatty(STDOUT_FILENO))
      return make_error(Errc::invalid_argument, "PKCS#12 is binary: give --out FILE (or redirect stdout)");
    SIGIL_TRY(Bytes der, crypto::trust_store_pkcs12(roots, o.password));
    data.assign(der.begin(), der.end());
  }
  if (o.out.empty()) {
    std::cout << data << std::flush;
  } else {
    SIGIL_TRY_STATUS(write_file_atomic(o.out, data));
    if (g.json)
      std::cout << nlohmann::json{{"file", o.out}, {"format", o.format}, {"certificates", roots.size()}}.dump(2)
                << "\n";
    else
      std::cerr << "wrote " << roots.size() << " root certificate(s) to " << o.out << "\n";
  }
  return {};
}

}  // namespace

void add_trust(CLI::App& app, Globals& g) {
  CLI::App* trust = app.add_subcommand("trust", "Trust distribution: the same roots for every runtime");
  trust->require_subcommand(1);
  auto o = std::make_shared<TrustOptions>();
  CLI::App* ex = trust->add_subcommand("export", "Write the root certificate(s) as a trust bundle");
  ex->add_option("--format", o->format, "pem (OS stores, curl, Go, Python) or pkcs12 (Java keytool, .NET)")
      ->check(CLI::IsMember({"pem", "pkcs12"}));
  ex->add_option("--out", o->out, "Output file (default: stdout)");
  ex->add_option("--password", o->password, "PKCS#12 integrity password (default: changeit, Java's convention)");
  ex->footer(
      "Includes HOME/ca/root.crt and any roots staged in HOME/ca/extra-roots.pem.\n"
      "Java:   keytool -importkeystore -srckeystore roots.p12 -srcstoretype PKCS12 -destkeystore ...\n"
      "Debian: cp roots.pem /usr/local/share/ca-certificates/sigil.crt && update-ca-certificates");
  ex->callback([&g, o] { g.status = run_export(g, *o); });
}

}  // namespace sigil::cli
