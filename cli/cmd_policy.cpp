// sigil policy explain: which rule allows or refuses each identifier of a CSR, on the CA host.
// sigil profile list: the built-in and custom profiles.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/file.hpp"
#include "ca/service/explain.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;

// Explain's exit code when anything is refused: "input refused" in the CLI's table.
constexpr int kRefused = 3;

std::string joined(const json& a, const char* empty) {
  std::string out;
  for (const auto& v : a) out += (out.empty() ? "" : ",") + v.get<std::string>();
  return out.empty() ? empty : out;
}

// One line per identifier, then one per check: verdict, what, [rule], detail.
void print_explained(const json& j) {
  const std::string identity =
      j["identity"].is_null() ? "none (only CA-wide rules apply)" : j["identity"].get<std::string>();
  std::cout << "profile " << j["profile"].get<std::string>() << ", ttl " << j["ttl_seconds"].get<std::int64_t>()
            << "s, identity " << identity << "\n";
  auto line = [](const json& e, const std::string& what) {
    std::cout << (e["allowed"].get<bool>() ? "allowed  " : "REFUSED  ") << what << "  [" << e["rule"].get<std::string>()
              << "] " << e["detail"].get<std::string>() << "\n";
  };
  std::string refused;
  for (const auto& i : j["identifiers"]) {
    line(i, i["identifier"].get<std::string>());
    if (!i["allowed"].get<bool>()) refused += (refused.empty() ? "" : ", ") + i["identifier"].get<std::string>();
  }
  for (const auto& c : j["checks"]) {
    line(c, "check " + c["check"].get<std::string>());
    if (!c["allowed"].get<bool>()) refused += (refused.empty() ? "" : ", ") + c["check"].get<std::string>();
  }
  if (j["allowed"].get<bool>())
    std::cout << "result: allowed\n";
  else
    std::cout << "result: REFUSED (" << refused << ")\n";
}

struct ExplainFlags {
  std::string csr_file;
  service::ExplainOptions o;
};

Status run_explain(Globals& g, ExplainFlags& f) {
  SIGIL_TRY(f.o.csr, read_file(f.csr_file, 1 << 20));
  f.o.actor = cli_actor();
  SIGIL_TRY(json j, service::explain_local(g.home, f.o));
  if (g.json)
    std::cout << j.dump(2) << "\n";
  else
    print_explained(j);
  if (!j["allowed"].get<bool>()) g.exit_code = kRefused;
  return {};
}

Status run_profile_list(const Globals& g) {
  SIGIL_TRY(Config config, service::load_config(Home{g.home}.config()));
  SIGIL_TRY(json list, service::profiles_json(config));
  if (g.json) {
    std::cout << json{{"items", list}}.dump(2) << "\n";
    return {};
  }
  std::printf("%-16s %-8s %-22s %-52s %-16s %-14s %-7s %-7s %s\n", "NAME", "KIND", "EKU", "KEY USAGE (RSA)",
              "SAN TYPES", "KEY TYPES", "DEFAULT", "MAX", "ACME");
  for (const auto& p : list) {
    std::string ku = joined(p["key_usage"], "-");
    if (p["key_usage_rsa"] != p["key_usage"]) ku += " (" + joined(p["key_usage_rsa"], "-") + ")";
    const std::string types = joined(p["allowed_san_types"], "-") + (p["require_spiffe"].get<bool>() ? "!" : "");
    std::printf("%-16s %-8s %-22s %-52s %-16s %-14s %-7s %-7s %s\n", p["name"].get<std::string>().c_str(),
                p["builtin"].get<bool>() ? "built-in" : "custom", joined(p["ext_key_usage"], "-").c_str(), ku.c_str(),
                types.c_str(), joined(p["key_types"], "any").c_str(), p["default_ttl"].get<std::string>().c_str(),
                p["max_ttl"].get<std::string>().c_str(), p["acme"].get<bool>() ? "yes" : "no");
  }
  return {};
}

}  // namespace

void add_policy(CLI::App& app, Globals& g) {
  CLI::App* policy = app.add_subcommand("policy", "Why a request would be allowed or refused");
  policy->require_subcommand(1);
  auto f = std::make_shared<ExplainFlags>();
  CLI::App* ex = policy->add_subcommand(
      "explain",
      "For each identifier of a CSR, and each request-wide check, the rule that allows or refuses it: the same checks "
      "issuance makes (identifier policy, wildcards, the intermediate's name constraints, the profile, key policy, "
      "blocked keys, and with --identity the caller's role rule). Issues nothing; one audit row. Exit 0 when "
      "everything is allowed, 3 when anything is refused.");
  ex->add_option("--csr", f->csr_file, "CSR file (PEM or DER)")->required();
  ex->add_option("--profile", f->o.profile, "Profile (default server; see sigil profile list)");
  ex->add_option("--identity", f->o.identity,
                 "The caller the role rules apply to: dns:NAME, uri:spiffe://..., cn:NAME (default: none, only "
                 "CA-wide rules)");
  ex->add_option("--ttl", f->o.ttl, "Validity asked for, e.g. 24h (default: the profile's)");
  ex->callback([&g, f] { g.status = run_explain(g, *f); });

  CLI::App* profile = app.add_subcommand("profile", "Certificate profiles");
  profile->require_subcommand(1);
  profile
      ->add_subcommand("list",
                       "The built-in profiles (server, client, spiffe) and the custom ones of sigil.json; "
                       "SAN types ending in ! require exactly one SPIFFE ID")
      ->callback([&g] { g.status = run_profile_list(g); });
}

}  // namespace sigil::cli
