#pragma once
// `sigil init`: the offline root in its own directory, the online intermediate (through the same
// CSR ceremony an operator can run by hand), sigil.json, the database and the admin client
// certificate in the home. Both directories appear complete or not at all.
#include <string>

#include "ca/service/home.hpp"
#include "ca/service/root.hpp"

namespace sigil::service {

struct InitRequest {
  fs::path root_dir;
  fs::path home;
  Config config;                 // name, key_type, public_url, server_dns, policy and authorization
  bool name_constraints = true;  // the intermediate limited to the policy and the CA's own names
  std::string actor;             // for the audit log
  // PKCS#11 URIs of the keys in tokens (empty: a key file). The object is generated in the token
  // when it does not exist, used as is when it does; root.p11 / ca/intermediate.p11 record the
  // URI (without pin-value) and no key file is written.
  std::string root_key_uri, intermediate_key_uri;
};

struct Initialized {
  fs::path root_dir, home;  // absolute
  std::string admin_serial;
};

// Refuses before any key is made when the directories overlap or a CA already exists, or a
// token cannot be logged in to; the passphrase (a root key file only) is asked for only then.
Result<Initialized> init_ca(const InitRequest& req, const PassphraseSource& passphrase);

}  // namespace sigil::service
