// sigil issue: sign a CSR with the intermediate, or make the key pair here for the common case.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "cli/common.hpp"
#include "cli/remote.hpp"

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
  RemoteOptions remote;
};

struct IssuedOut {
  std::string serial, chain_pem, not_before, not_after;
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

  std::unique_ptr<IssuerContext> ctx;
  if (o.remote.server.empty()) {
    SIGIL_TRY(ctx, open_issuer(g.home));
  }
  std::string csr;
  std::unique_ptr<crypto::KeySigner> key;
  if (!o.csr_file.empty()) {
    SIGIL_TRY(csr, read_file(o.csr_file, 1 << 20));
  } else {
    const std::string type_name = !o.key_type.empty() ? o.key_type : ctx ? ctx->config.key_type : "ec-p256";
    SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(type_name));
    SIGIL_TRY(key, crypto::KeySigner::generate(type));
    std::vector<crypto::GeneralName> sans;
    for (const auto& n : o.names) sans.push_back(classify(n));
    SIGIL_TRY(Bytes der, crypto::make_csr(*key, crypto::encode_name(""), sans));
    csr = pem_encode("CERTIFICATE REQUEST", der);
  }

  IssuedOut issued;
  if (ctx) {
    SIGIL_TRY(auto prepared, ctx->issuer->prepare({csr, o.profile, ttl, cli_actor()}));
    SIGIL_TRY(auto done, ctx->issuer->issue(std::move(prepared)));
    issued = {done.serial, done.chain_pem, format_rfc3339(done.not_before), format_rfc3339(done.not_after)};
  } else {
    if (csr.find("-----BEGIN") == std::string::npos) csr = pem_encode("CERTIFICATE REQUEST", as_bytes(csr));
    SIGIL_TRY(Remote remote, Remote::connect(g, o.remote));
    nlohmann::json body = {{"csr", csr}, {"profile", o.profile}};
    if (!o.ttl.empty()) body["ttl"] = o.ttl;
    SIGIL_TRY(auto j, remote.call("POST", "/api/v1/certificates", &body));
    try {
      issued = {j.at("serial").get<std::string>(), j.at("chain").get<std::string>(),
                j.at("not_before").get<std::string>(), j.at("not_after").get<std::string>()};
    } catch (const nlohmann::json::exception&) {
      return make_error(Errc::internal, "the server's answer lacks serial, chain or validity");
    }
  }

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
                        {"not_before", issued.not_before},
                        {"not_after", issued.not_after},
                        {"chain", issued.chain_pem}};
    if (!o.out.empty()) j["out"] = o.out;
    if (key) j["key_out"] = o.key_out;
    std::cout << j.dump(2) << "\n";
  } else if (o.out.empty()) {
    std::cout << issued.chain_pem;
    std::cerr << "serial " << issued.serial << "\n";
  } else {
    std::cout << "serial " << issued.serial << "\n"
              << "not after " << issued.not_after << "\n"
              << "chain written to " << o.out << "\n";
  }
  return {};
}

}  // namespace

void add_issue(CLI::App& app, Globals& g) {
  auto o = std::make_shared<IssueOptions>();
  CLI::App* c = app.add_subcommand("issue", "Sign a certificate with the intermediate");
  c->add_option("--csr", o->csr_file, "CSR file (PEM or DER)");
  c->add_option("--name", o->names,
                "Identifier to certify, repeatable (DNS name, IP, spiffe:// URI, email); a key is made here");
  c->add_option("--key-out", o->key_out, "Where to write the new private key (with --name; 0600)");
  c->add_option("--key-type", o->key_type,
                "Key type for --name (default: the CA's key_type): " + std::string(crypto::kKeyTypeNames));
  c->add_option("--profile", o->profile, "server|client|spiffe, or a custom profile (sigil profile list)")
      ->capture_default_str();
  c->add_option("--ttl", o->ttl, "Validity, e.g. 24h, 30d (default: the profile's)");
  c->add_option("--out", o->out, "Write the chain (leaf, then intermediate) here instead of stdout");
  add_remote_flags(c, o->remote);
  c->callback([&g, o] { g.status = run_issue(g, *o); });
}

}  // namespace sigil::cli
