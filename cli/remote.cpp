#include "cli/remote.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <string_view>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"

namespace sigil::cli {

std::string query_escape(const std::string& v) { return percent_encode(v, ":@"); }

void add_remote_flags(CLI::App* cmd, RemoteOptions& o) {
  cmd->add_option("--server", o.server, "Act through a running CA's REST API, e.g. https://ca.example:9443");
  cmd->add_option("--cert", o.cert, "Client certificate for --server (default: HOME/admin/admin.crt)");
  cmd->add_option("--key", o.key, "Its key (default: HOME/admin/admin.key)");
  cmd->add_option("--ca", o.ca, "Root to verify the server with (default: HOME/ca/root.crt)");
}

Result<Remote> Remote::connect(const Globals& g, const RemoteOptions& o) {
  Home home{g.home};
  http::ClientOptions opts;
  SIGIL_TRY(opts.ca_pem, read_file(o.ca.empty() ? home.root_cert() : fs::path(o.ca)));
  SIGIL_TRY(opts.cert_pem, read_file(o.cert.empty() ? home.admin_cert() : fs::path(o.cert)));
  SIGIL_TRY(opts.key_pem, read_file(o.key.empty() ? home.admin_key() : fs::path(o.key)));
  SIGIL_TRY(auto client, http::Client::create(o.server, std::move(opts)));
  Remote r;
  r.client_ = std::move(client);
  return r;
}

Result<nlohmann::json> Remote::call(const std::string& method, const std::string& target, const nlohmann::json* body) {
  std::vector<std::pair<std::string, std::string>> headers{{"Accept", "application/json"}};
  if (body) headers.emplace_back("Content-Type", "application/json");
  SIGIL_TRY(http::Response resp, client_->request(method, target, body ? body->dump() : "", headers));
  auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (resp.status >= 200 && resp.status < 300) {
    if (j.is_discarded()) return make_error(Errc::internal, "the server sent a response that is not JSON");
    return j;
  }
  std::string detail = "HTTP " + std::to_string(resp.status);
  if (!j.is_discarded() && j.is_object() && j.contains("detail") && j["detail"].is_string())
    detail = j["detail"].get<std::string>() + " (HTTP " + std::to_string(resp.status) + ")";
  Errc code = Errc::internal;
  if (resp.status == 400 || resp.status == 413 || resp.status == 431)
    code = Errc::invalid_argument;
  else if (resp.status == 401)
    code = Errc::unauthorized;
  else if (resp.status == 403)
    code = Errc::forbidden;
  else if (resp.status == 404)
    code = Errc::not_found;
  else if (resp.status == 409)
    code = Errc::conflict;
  return make_error(code, "server: " + detail);
}

}  // namespace sigil::cli
