#include "ca/service/root.hpp"

#include <nlohmann/json.hpp>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/issuer/ceremony.hpp"
#include "ca/service/own_names.hpp"

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
  // The addresses the listeners bind are the CA's own names too (the server certificate names them).
  policy::IdentifierPolicy p = config.policy;
  for (const auto& ip : bound_ip_addresses(config)) p.ip_ranges.push_back(single_address_range(ip));
  return policy::name_constraints_for(p, own);
}

namespace {
Result<std::optional<crypto::NameConstraints>> constraints_for_signing(const ConstraintsChoice& o, RootState& state) {
  if (o.none) {
    if (!o.config_file.empty())
      return make_error(Errc::invalid_argument, "--config and --no-name-constraints exclude each other");
    return std::optional<crypto::NameConstraints>{};
  }
  if (!o.config_file.empty()) {
    SIGIL_TRY(Config config, load_config(o.config_file));
    state.name_constraints = intermediate_name_constraints(config);
  }
  if (!state.name_constraints)
    return make_error(Errc::invalid_argument,
                      "root.json records no name constraints: give --config HOME/sigil.json (the intermediate may "
                      "then certify what its identifier policy allows) or --no-name-constraints");
  return state.name_constraints;
}
}  // namespace

Result<SignedIntermediate> sign_intermediate(OpenRoot& root, const crypto::Csr& csr, Seconds ttl,
                                             const ConstraintsChoice& constraints, const fs::path& out,
                                             const Clock& clock) {
  issuer::IntermediateParams p = issuer::intermediate_params(root.state.public_url, ttl);
  SIGIL_TRY(p.name_constraints, constraints_for_signing(constraints, root.state));
  SIGIL_TRY(crypto::Certificate cert, issuer::sign_intermediate(*root.key, root.cert, csr, p, clock));
  SIGIL_TRY(std::string subject, crypto::name_to_string(cert.tbs().subject));
  // The root's ledger first: a certificate it signed is always on record.
  root.state.issued.push_back({cert.serial_hex(), subject, to_unix(cert.tbs().not_after)});
  SIGIL_TRY_STATUS(save_state(root.paths, root.state));
  SIGIL_TRY_STATUS(write_file_new(out, cert.pem() + root.cert.pem(), kPublicMode));
  return SignedIntermediate{std::move(cert), subject, p.name_constraints.has_value()};
}

Result<RootCrl> make_root_crl(OpenRoot& root, Seconds validity, const Clock& clock) {
  issuer::CrlParams p;
  p.validity = validity;
  // The number is persisted before the CRL exists, so a crash can skip a number, never reuse one.
  p.number = ++root.state.crl_number;
  SIGIL_TRY_STATUS(save_state(root.paths, root.state));
  for (const auto& r : root.state.revoked) {
    SIGIL_TRY(Bytes serial, from_hex(r.serial));
    p.revoked.push_back({serial, from_unix(r.revoked_at), r.reason});
  }
  SIGIL_TRY(Bytes crl, issuer::make_crl(*root.key, root.cert, p, clock));
  RootCrl out{p.number, p.revoked.size(), pem_encode("X509 CRL", crl)};
  SIGIL_TRY_STATUS(write_file_atomic(root.paths.crl(), out.pem, kPublicMode));
  return out;
}

Status revoke_intermediate(OpenRoot& root, const crypto::Certificate& cert, int reason, TimePoint now) {
  if (auto v = crypto::verify_issued_by(cert, root.cert); !v)
    return make_error(Errc::invalid_argument, "the certificate was not issued by this root");
  const std::string serial = cert.serial_hex();
  for (const auto& r : root.state.revoked)
    if (r.serial == serial) return make_error(Errc::conflict, "intermediate " + serial + " is already revoked");
  root.state.revoked.push_back({serial, to_unix(now), reason});
  return save_state(root.paths, root.state);
}

// Re-encrypts under today's KDF (kKeyEncryptionIterations): the way to upgrade a root key
// written with OpenSSL's old 2,048 iterations.
Status change_root_passphrase(const OpenRoot& root, const std::string& new_passphrase) {
  SIGIL_TRY(std::string pem, root.key->to_pem(new_passphrase));
  // Proven before it replaces the only copy: the new file opens with the new passphrase to the
  // key of root.crt.
  SIGIL_TRY(auto reread, crypto::KeySigner::from_pem(pem, new_passphrase));
  if (reread->public_key().spki != root.cert.public_key().spki)
    return make_error(Errc::internal, "the re-encrypted root key does not read back");
  return write_file_atomic(root.paths.key(), pem, kPrivateMode);
}

}  // namespace sigil::service
