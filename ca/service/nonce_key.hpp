#pragma once
// The key every node's ACME nonces are MACed with (acme/jws/nonce.hpp): 32 bytes from the CSPRNG
// in the home's ca/acme-nonce.key. Every node of a cluster must have the same file, or a nonce
// issued by one node is badNonce on another; the file's own comment says so.
#include "ca/base/error.hpp"
#include "ca/base/file.hpp"
#include "ca/service/home.hpp"

namespace sigil::service {

fs::path nonce_key_path(const Home& home);
// A new key file's text (a comment, then the key in base64url), for `sigil init`.
std::string new_nonce_key_file();
// The home's key; created (0600, atomically, logged) when missing: a home made before nonces
// were MACed. A file that is there but unreadable or malformed is an error, never replaced.
Result<Bytes> load_or_create_nonce_key(const Home& home);

}  // namespace sigil::service
