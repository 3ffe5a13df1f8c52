#pragma once
// --server mode: the CLI as a REST client of a running `sigil serve` (mTLS with the admin
// credentials of the home unless --cert/--key/--ca say otherwise).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ca/http/client.hpp"
#include "cli/common.hpp"

namespace sigil::cli {

struct RemoteOptions {
  std::string server;  // https://HOST:9443; empty: work on the local home
  std::string cert, key, ca;
};
void add_remote_flags(CLI::App* cmd, RemoteOptions& o);

// A query parameter's value, percent-encoded beyond RFC 3986's unreserved characters (and ':', '@').
std::string query_escape(const std::string& v);

class Remote {
 public:
  static Result<Remote> connect(const Globals& g, const RemoteOptions& o);
  // A JSON call; a problem document becomes an Error with its detail.
  Result<nlohmann::json> call(const std::string& method, const std::string& target,
                              const nlohmann::json* body = nullptr);

 private:
  std::shared_ptr<http::Client> client_;
};

}  // namespace sigil::cli
