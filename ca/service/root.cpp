#include "ca/service/root.hpp"

#include <nlohmann/json.hpp>

#include "ca/base/file.hpp"

namespace sigil::service {
using nlohmann::json;

std::string to_json(const RootState& s) {
  json j = {{"public_url", s.public_url}, {"crl_number", s.crl_number}};
  json issued = json::array();
  for (const auto& i : s.issued)
    issued.push_back({{"serial", i.serial}, {"subject", i.subject}, {"not_after", i.not_after}});
  json revoked = json::array();
  for (const auto& r : s.revoked)
    revoked.push_back({{"serial", r.serial}, {"revoked_at", r.revoked_at}, {"reason", r.reason}});
  j["issued"] = issued;
  j["revoked"] = revoked;
  if (s.name_constraints) {
    json nc = {{"permitted", json::array()}, {"excluded", json::array()}};
    for (const auto& g : s.name_constraints->permitted) nc["permitted"].push_back(crypto::to_string(g));
    for (const auto& g : s.name_constraints->excluded) nc["excluded"].push_back(crypto::to_string(g));
    j["name_constraints"] = nc;
  }
  return j.dump(2) + "\n";
}

Result<RootState> parse_root_state(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  auto bad = [] { return make_error(Errc::malformed, "root.json is damaged"); };
  if (j.is_discarded() || !j.is_object()) return bad();
  RootState s;
  try {
    s.public_url = j.at("public_url").get<std::string>();
    s.crl_number = j.at("crl_number").get<std::int64_t>();
    for (const auto& i : j.at("issued"))
      s.issued.push_back({i.at("serial").get<std::string>(), i.at("subject").get<std::string>(),
                          i.at("not_after").get<std::int64_t>()});
    for (const auto& r : j.at("revoked"))
      s.revoked.push_back(
          {r.at("serial").get<std::string>(), r.at("revoked_at").get<std::int64_t>(), r.at("reason").get<int>()});
    if (j.contains("name_constraints")) {
      crypto::NameConstraints nc;
      for (const auto& g : j.at("name_constraints").at("permitted")) {
        auto n = crypto::parse_general_name_text(g.get<std::string>());
        if (!n) return bad();
        nc.permitted.push_back(std::move(*n));
      }
      for (const auto& g : j.at("name_constraints").at("excluded")) {
        auto n = crypto::parse_general_name_text(g.get<std::string>());
        if (!n) return bad();
        nc.excluded.push_back(std::move(*n));
      }
      s.name_constraints = std::move(nc);
    }
  } catch (const json::exception&) {
    return bad();
  }
  return s;
}

Result<OpenRoot> open_root(const fs::path& dir, const PassphraseSource& passphrase) {
  RootDir paths{dir};
  auto pem = read_file(paths.key());
  if (!pem) {
    if (pem.error().code == Errc::not_found)
      return make_error(Errc::not_found, "no root key in " + dir.string() + " (is --root-dir right?)");
    return pem.error();
  }
  SIGIL_TRY(std::string state_text, read_file(paths.state()));
  SIGIL_TRY(RootState state, parse_root_state(state_text));
  SIGIL_TRY(crypto::Certificate cert, load_certificate(paths.cert()));
  SIGIL_TRY(std::string pass, passphrase());
  SIGIL_TRY(auto key, crypto::KeySigner::from_pem(*pem, pass));
  if (key->public_key().spki != cert.public_key().spki)
    return make_error(Errc::invalid_argument, "root.key does not match root.crt");
  return OpenRoot{paths, std::move(key), std::move(cert), std::move(state)};
}

Status save_state(const RootDir& dir, const RootState& state) {
  return write_file_atomic(dir.state(), to_json(state), kPrivateMode);
}

crypto::NameConstraints intermediate_name_constraints(const Config& config) {
  std::vector<std::string> own = config.server_dns;
  own.push_back(kAdminIdentity);
  return policy::name_constraints_for(config.policy, own);
}

}  // namespace sigil::service
