// sigil serve: flags, signals (HUP reload, TERM/INT drain) and the addresses printed; the
// runtime itself (wiring, the server's own certificate, reload, stop) is service::Runtime.
#include <pthread.h>
#include <signal.h>
#include <CLI/CLI.hpp>
#include <iostream>

#include "ca/base/log.hpp"
#include "ca/service/runtime.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {

Status run_serve(const Globals& g, const service::ServeOverrides& o) {
  // Signals go to the one thread that waits for them: block them before any thread exists.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  log::set_level(log::Level::info);

  SIGIL_TRY(auto runtime, service::Runtime::start(g.home, o));
  const service::Listening& l = runtime->listening();
  std::cout << "api " << l.api_url << "\n"
            << "acme " << l.acme_url << "\n"
            << "public " << l.public_url << "\n"
            << std::flush;
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP) {
      log::info("stopping: draining connections", {{"signal", std::to_string(sig)}});
      break;
    }
    runtime->reload();
  }
  runtime->stop();
  return {};
}

}  // namespace

void add_serve(CLI::App& app, Globals& g) {
  auto o = std::make_shared<service::ServeOverrides>();
  CLI::App* c = app.add_subcommand("serve", "Run the CA service: REST API (mTLS), ACME and public listeners");
  c->add_option("--api-listen", o->api_listen,
                "api listener address (default from sigil.json: 127.0.0.1:9443; port 0 picks one)");
  c->add_option("--acme-listen", o->acme_listen, "acme listener address (default 127.0.0.1:8443)");
  c->add_option("--public-listen", o->public_listen, "public plain-HTTP listener address (default 127.0.0.1:8080)");
  c->add_option("--dns-resolver", o->dns_resolver,
                "DNS server for ACME validation, e.g. 127.0.0.1:8053 (default: acme.validation.dns_resolver, "
                "else /etc/resolv.conf's)");
  c->add_option("--http01-port", o->http01_port, "port ACME http-01 validation connects to (default 80)")
      ->check(CLI::Range(1, 65535));
  c->add_option("--tlsalpn01-port", o->tlsalpn01_port, "port ACME tls-alpn-01 validation connects to (default 443)")
      ->check(CLI::Range(1, 65535));
  c->footer(
      "Signals: SIGHUP reloads sigil.json's authorization, identifier policy and profiles, the trust anchors\n"
      "and a newly installed intermediate (issuing from it; the replaced one keeps serving its CRLs and OCSP),\n"
      "and renews the server certificate (listeners, limits and TLS options need a restart);\n"
      "SIGTERM/SIGINT stop accepting, drain connections (up to 5 s) and exit.");
  c->callback([&g, o] { g.status = run_serve(g, *o); });
}

}  // namespace sigil::cli
