#pragma once
// `sigil serve` as a library: the store, the issuer, the revocation publishers, the REST API,
// ACME and the three listeners wired together; the server's own certificate kept fresh; reload
// (what SIGHUP asks for) and a draining stop. Signals and printing stay with the command.
#include <memory>
#include <string>

#include "ca/base/error.hpp"

namespace sigil::service {

// Command-line overrides of sigil.json (empty or zero: the config's value).
struct ServeOverrides {
  std::string api_listen, acme_listen, public_listen;
  std::string dns_resolver;
  int http01_port = 0, tlsalpn01_port = 0;
};

// The bound addresses (port 0 in the config picks one).
struct Listening {
  std::string api, acme, public_;
  // URLs that work as printed: the served certificate names the host (own_names.hpp listener_url).
  std::string api_url, acme_url, public_url;
};

class Runtime {
 public:
  // Opens the home, wires everything and starts the listeners. Call with the signals the caller
  // waits for already blocked: the runtime's threads inherit the mask.
  static Result<std::unique_ptr<Runtime>> start(const std::string& home, const ServeOverrides& overrides);
  ~Runtime();  // stops, if stop() has not run
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Listening& listening() const;
  // Reads sigil.json's authorization, identifier policy and profiles again, takes a newly
  // installed intermediate (the one it replaces keeps answering for its own), reloads the trust
  // anchors, and renews the server certificate. What cannot be taken is logged and kept.
  void reload();
  // Stops accepting, drains connections (up to 5 s), stops ACME and the publishers.
  void stop();

  struct Impl;

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sigil::service
