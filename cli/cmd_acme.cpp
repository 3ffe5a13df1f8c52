// sigil acme eab create|list|revoke: External Account Binding keys (RFC 8555 §7.3.4). An
// account created with one is bound to it (single use); `--allow` narrows what it may order.
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/api/api.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/policy/policy.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;

struct EabOptions {
  std::string kid;
  std::string description;
  std::vector<std::string> allow;
};

Status run_create(const Globals& g, const EabOptions& o) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(store::EabKey k, api::make_eab_key(o.kid, o.description, o.allow, to_unix(ctx->clock.now())));
  SIGIL_TRY_STATUS(
      ctx->store->create_eab_key(k, {k.created_at, cli_actor(), "acme-eab-create", k.kid, "ok", o.description}));
  const std::string& kid = k.kid;
  const std::string mac = base64url_encode(k.hmac_key);
  if (g.json) {
    std::cout << json{{"kid", kid}, {"hmac_key", mac}, {"allowed_identifiers", o.allow}}.dump(2) << "\n";
  } else {
    std::cout << "kid:      " << kid << "\nhmac_key: " << mac
              << "\n(give both to the ACME client, e.g. lego --eab --kid KID --hmac KEY; the key is shown only once)\n";
  }
  return {};
}

Status run_list(const Globals& g) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(auto keys, ctx->store->list_eab_keys());
  json out = json::array();
  for (const auto& k : keys) {
    json j = api::eab_key_json(k);
    if (g.json) {
      out.push_back(std::move(j));
    } else {
      std::string allow;
      for (const auto& a : k.allowed_identifiers) allow += (allow.empty() ? "" : ",") + a;
      std::cout << k.kid << "  " << j["state"].get<std::string>() << "  " << j["created_at"].get<std::string>() << "  "
                << (allow.empty() ? "(policy)" : allow) << (k.description.empty() ? "" : "  " + k.description) << "\n";
    }
  }
  if (g.json) std::cout << out.dump(2) << "\n";
  return {};
}

Status run_revoke(const Globals& g, const std::string& kid) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  const std::int64_t now = to_unix(ctx->clock.now());
  SIGIL_TRY_STATUS(ctx->store->revoke_eab_key(kid, now, {now, cli_actor(), "acme-eab-revoke", kid, "ok", ""}));
  if (g.json)
    std::cout << json{{"kid", kid}, {"state", "revoked"}}.dump(2) << "\n";
  else
    std::cout << kid << ": revoked\n";
  return {};
}

}  // namespace

void add_acme(CLI::App& app, Globals& g) {
  CLI::App* acme = app.add_subcommand("acme", "ACME server administration");
  acme->require_subcommand(1);
  CLI::App* eab = acme->add_subcommand("eab", "External Account Binding keys");
  eab->require_subcommand(1);
  auto o = std::make_shared<EabOptions>();
  CLI::App* create = eab->add_subcommand("create", "Create an EAB key; prints its kid and HMAC key (once)");
  create->add_option("--kid", o->kid, "Key identifier (default: random)");
  create->add_option("--description", o->description, "Free text for operators");
  create->add_option("--allow", o->allow,
                     "Narrow what the bound account may order: a domain (itself and its subdomains) or a CIDR; "
                     "repeatable (default: the identifier policy alone)");
  create->callback([&g, o] { g.status = run_create(g, *o); });
  eab->add_subcommand("list", "List EAB keys (never their HMAC keys)")->callback([&g] { g.status = run_list(g); });
  auto kid = std::make_shared<std::string>();
  CLI::App* revoke = eab->add_subcommand("revoke", "Revoke an EAB key (an account already bound keeps working)");
  revoke->add_option("kid", *kid, "Key identifier")->required();
  revoke->callback([&g, kid] { g.status = run_revoke(g, *kid); });
}

}  // namespace sigil::cli
