// sigil issue: sign a CSR with the intermediate, or make the key pair here for the common case.
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {

struct IssueOptions {
  std::string csr_file;
  std::vector<std::string> names;
  std::string key_out;
  std::string key_type;
  std::string profile = "server";
  std::string ttl;
  std::string out;
};

// "spiffe://td/x" -> URI, "a@b" -> email, an address -> IP, else DNS.
crypto::GeneralName classify(const std::string& n) {
  using T = crypto::GeneralName::Type;
  if (n.find("://") != std::string::npos) return {T::uri, n};
  if (n.find('@') != std::string::npos) return {T::email, n};
  if (crypto::ip_to_bytes(n)) return {T::ip, n};
  return {T::dns, n};
}

Status run_issue(const Globals& g, const IssueOptions& o) {
  if (o.csr_file.empty() == o.names.empty())
    return make_error(Errc::invalid_argument, "give either --csr FILE or --name NAME (with --key-out)");
  if (!o.names.empty() && o.key_out.empty())
    return make_error(Errc::invalid_argument, "--name needs --key-out FILE for the new private key");
  if (o.names.empty() && (!o.key_out.empty() || !o.key_type.empty()))
    return make_error(Errc::invalid_argument, "--key-out and --key-type go with --name");
  std::optional<Seconds> ttl;
  if (!o.ttl.empty()) {
    SIGIL_TRY(ttl, parse_duration(o.ttl));
  }
  if (!o.key_out.empty() && fs::exists(o.key_out))
    return make_error(Errc::already_exists, o.key_out + " already exists; refusing to overwrite a key");

  SIGIL_TRY(auto ctx, open_issuer(g.home));
  std::string csr;
  std::unique_ptr<crypto::KeySigner> key;
  if (!o.csr_file.empty()) {
    SIGIL_TRY(csr, read_file(o.csr_file, 1 << 20));
  } else {
    SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(o.key_type.empty() ? ctx->config.key_type : o.key_type));
    SIGIL_TRY(key, crypto::KeySigner::generate(type));
    std::vector<crypto::GeneralName> sans;
    for (const auto& n : o.names) sans.push_back(classify(n));
    SIGIL_TRY(Bytes der, crypto::make_csr(*key, crypto::encode_name(""), sans));
    csr.assign(as_chars(der));
  }

  SIGIL_TRY(auto prepared, ctx->issuer->prepare({csr, o.profile, ttl, cli_actor()}));
  SIGIL_TRY(auto issued, ctx->issuer->issue(std::move(prepared)));

  // Key first, then the chain; if the chain cannot be written, the key goes too.
  if (key) {
    SIGIL_TRY(std::string pem, key->to_pem());
    SIGIL_TRY_STATUS(write_file_new(o.key_out, pem, kPrivateMode));
  }
  if (!o.out.empty()) {
    if (auto s = write_file_atomic(o.out, issued.chain_pem, kPublicMode); !s) {
      if (key) fs::remove(o.key_out);
      return s;
    }
  }

  if (g.json) {
    nlohmann::json j = {{"serial", issued.serial},
                        {"profile", o.profile},
                        {"not_before", format_rfc3339(issued.not_before)},
                        {"not_after", format_rfc3339(issued.not_after)},
                        {"chain", issued.chain_pem}};
    if (!o.out.empty()) j["out"] = o.out;
    if (key) j["key_out"] = o.key_out;
    std::cout << j.dump(2) << "\n";
  } else if (o.out.empty()) {
    std::cout << issued.chain_pem;
    std::cerr << "serial " << issued.serial << "\n";
  } else {
    std::cout << "serial " << issued.serial << "\n"
              << "not after " << format_rfc3339(issued.not_after) << "\n"
              << "chain written to " << o.out << "\n";
  }
  return {};
}

}  // namespace

void add_issue(CLI::App& app, Globals& g) {
  auto o = std::make_shared<IssueOptions>();
  CLI::App* c = app.add_subcommand("issue", "Sign a certificate with the intermediate");
  c->add_option("--csr", o->csr_file, "CSR file (PEM or DER)");
  c->add_option("--name", o->names, "Identifier to certify, repeatable (DNS name, IP, spiffe:// URI, email); a key is made here");
  c->add_option("--key-out", o->key_out, "Where to write the new private key (with --name; 0600)");
  c->add_option("--key-type", o->key_type, "Key type for --name (default: the CA's key_type): " + std::string(crypto::kKeyTypeNames));
  c->add_option("--profile", o->profile, "server|client|spiffe")->capture_default_str();
  c->add_option("--ttl", o->ttl, "Validity, e.g. 24h, 30d (default: the profile's)");
  c->add_option("--out", o->out, "Write the chain (leaf, then intermediate) here instead of stdout");
  c->callback([&g, o] { g.status = run_issue(g, *o); });
}

}  // namespace sigil::cli
