// sigil acme eab create|list|revoke: External Account Binding keys (RFC 8555 §7.3.4). An
// account created with one is bound to it (single use); `--allow` narrows what it may order.
// sigil acme account list|show|deactivate: the operator's way to cut an ACME account off.
#include <CLI/CLI.hpp>
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

// One line per account: id, status, created, contacts (or "-"), EAB kid when bound with one.
void print_account_line(const store::AcmeAccount& a) {
  std::string contact;
  for (const auto& c : a.contact) contact += (contact.empty() ? "" : ",") + c;
  std::cout << a.id << "  " << store::to_string(a.status) << "  " << format_rfc3339(from_unix(a.created_at)) << "  "
            << (contact.empty() ? "-" : contact) << (a.eab_kid.empty() ? "" : "  eab " + a.eab_kid) << "\n";
}

Status run_revoke(const Globals& g, const std::string& kid, bool deactivate_account) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  const std::int64_t now = to_unix(ctx->clock.now());
  SIGIL_TRY(json out, api::revoke_eab(*ctx->store, kid, deactivate_account, now, cli_actor()));
  if (g.json) {
    std::cout << out.dump(2) << "\n";
    return {};
  }
  std::cout << kid << ": revoked\n";
  if (deactivate_account) {
    if (out["account"].is_null())
      std::cout << kid << ": no account was bound to it\n";
    else
      std::cout << "account " << out["account"]["id"].get<std::string>() << ": "
                << out["account"]["status"].get<std::string>() << "\n";
  }
  return {};
}

Status run_account_list(const Globals& g) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(auto accounts, ctx->store->list_accounts());
  json out = json::array();
  for (const auto& a : accounts) {
    if (g.json)
      out.push_back(api::acme_account_json(a));
    else
      print_account_line(a);
  }
  if (g.json) std::cout << out.dump(2) << "\n";
  return {};
}

Status run_account_show(const Globals& g, const std::string& id_or_url) {
  SIGIL_TRY(const std::string id, api::acme_account_id(id_or_url));
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(auto a, ctx->store->account(id));
  if (!a) return make_error(Errc::not_found, "no ACME account " + id);
  const json j = api::acme_account_json(*a);
  if (g.json) {
    std::cout << j.dump(2) << "\n";
    return {};
  }
  for (const char* k : {"id", "path", "status", "created_at", "thumbprint", "eab_kid"})
    std::cout << k << ": " << j[k].get<std::string>() << "\n";
  std::cout << "terms_agreed: " << (a->terms_agreed ? "yes" : "no") << "\n";
  for (const auto& c : a->contact) std::cout << "contact: " << c << "\n";
  return {};
}

Status run_account_deactivate(const Globals& g, const std::string& id_or_url) {
  SIGIL_TRY(const std::string id, api::acme_account_id(id_or_url));
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(auto d, api::deactivate_acme_account(*ctx->store, id, to_unix(ctx->clock.now()), cli_actor()));
  if (g.json)
    std::cout << api::acme_account_json(d.account).dump(2) << "\n";
  else
    std::cout << id << ": "
              << (d.changed ? std::string(store::to_string(d.account.status))
                            : std::string("already ") + store::to_string(d.account.status))
              << "\n";
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
  auto deactivate_account = std::make_shared<bool>(false);
  CLI::App* revoke = eab->add_subcommand(
      "revoke", "Revoke an EAB key (an account already bound keeps working, unless --deactivate-account)");
  revoke->add_option("kid", *kid, "Key identifier")->required();
  revoke->add_flag("--deactivate-account", *deactivate_account,
                   "Also deactivate the account bound to the key: its every ACME request is refused from then on");
  revoke->callback([&g, kid, deactivate_account] { g.status = run_revoke(g, *kid, *deactivate_account); });

  CLI::App* account = acme->add_subcommand("account", "ACME accounts");
  account->require_subcommand(1);
  account->add_subcommand("list", "List ACME accounts, one line each (--json: all fields)")->callback([&g] {
    g.status = run_account_list(g);
  });
  auto id = std::make_shared<std::string>();
  CLI::App* show = account->add_subcommand("show", "Show one ACME account");
  show->add_option("id", *id, "Account id, or the account URL (.../acme/acct/ID)")->required();
  show->callback([&g, id] { g.status = run_account_show(g, *id); });
  CLI::App* deactivate =
      account->add_subcommand("deactivate", "Deactivate an ACME account: its every request is refused from then on");
  deactivate->add_option("id", *id, "Account id, or the account URL (.../acme/acct/ID)")->required();
  deactivate->callback([&g, id] { g.status = run_account_deactivate(g, *id); });
}

}  // namespace sigil::cli
