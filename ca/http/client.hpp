#pragma once
// A small HTTP(S) client (keep-alive, one connection, synchronous) for the CLI's --server mode,
// the renewal agent and load tools. Plain types only; Beast stays in client.cpp.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/http/http.hpp"

namespace sigil::http {

struct ClientOptions {
  std::string ca_pem;    // trust anchors for the server (required for https)
  std::string cert_pem;  // client certificate chain (optional)
  std::string key_pem;   // its key
  std::chrono::milliseconds timeout{30'000};
};

class Client {
 public:
  // base_url: "https://host:port" or "http://host:port". Connects lazily, reconnects once.
  static Result<std::unique_ptr<Client>> create(const std::string& base_url, ClientOptions options);
  ~Client();
  Result<Response> request(const std::string& method, const std::string& target, const std::string& body = "",
                           const std::vector<std::pair<std::string, std::string>>& headers = {});

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sigil::http
