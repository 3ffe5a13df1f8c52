#pragma once
// The online intermediate's lifecycle on the CA host: a new key and its CSR (pending until the
// offline root signs it), then installing the signed certificate, archiving the pair it replaces
// (an old intermediate keeps answering for its own certificates; see home.hpp).
#include <string>

#include "ca/service/home.hpp"

namespace sigil::service {

struct PendingIntermediate {
  fs::path csr;  // PEM
  fs::path key;  // HOME/ca/pending/intermediate.key, or .p11 naming the key in a token
};
// A new key of the config's key_type in HOME/ca/pending and its CSR at `csr_out` (empty:
// HOME/ca/pending/intermediate.csr). Refused while another CSR is pending. With `key_uri` (a
// PKCS#11 URI), the key is the token's object (generated there when it does not exist) and
// HOME/ca/pending/intermediate.p11 records the URI.
Result<PendingIntermediate> make_intermediate_csr(const StoreContext& ctx, const fs::path& csr_out,
                                                  const std::string& key_uri = "");

// Installs `cert_pem` (signed by HOME/ca/root.crt) as HOME/ca/intermediate.crt with whichever
// key it certifies (the pending one or the current one), archiving the replaced pair, and
// records it in the audit log as `actor`. A running server takes it on SIGHUP.
Result<crypto::Certificate> install_intermediate(StoreContext& ctx, const std::string& cert_pem,
                                                 const std::string& actor);

}  // namespace sigil::service
