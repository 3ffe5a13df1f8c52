#pragma once
// The PKCS#11 plumbing under ca/crypto/pkcs11.hpp: loaded modules, token (slot) lookup, sessions
// with their login, return-value names and what they mean for the caller.
#include <p11-kit/pkcs11.h>

#include <memory>
#include <optional>
#include <string>

#include "ca/crypto/pkcs11.hpp"

namespace sigil::crypto::pkcs11 {

// A module, dlopen'ed and C_Initialize'd once per process (CKF_OS_LOCKING_OK: sessions are used
// from several threads). Kept until exit, when C_Finalize runs (an atexit handler).
class Module {
 public:
  // The module the URI names (module-path, else module-name in p11-kit's module directory).
  static Result<std::shared_ptr<Module>> load(const Uri& uri);
  Module(std::string path, void* handle, CK_FUNCTION_LIST* f, bool finalize);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  CK_FUNCTION_LIST& f() const { return *f_; }
  const std::string& path() const { return path_; }
  void finalize();  // C_Finalize once, if this process initialised the module

 private:
  std::string path_;
  void* handle_;
  CK_FUNCTION_LIST* f_;
  bool finalize_;
};

std::string rv_name(CK_RV rv);
// Errc for a failed call: PIN problems are unauthorized, everything else a token that cannot
// serve now (unavailable).
Error token_error(CK_RV rv, std::string_view what);

// The one token with a token present matching the URI's token and slot attributes.
Result<CK_SLOT_ID> find_slot(const Module& m, const Uri& uri);
// The token's label (for messages), or "slot N".
std::string token_label(const Module& m, CK_SLOT_ID slot);

// The PIN the URI asks for (pin-value, the pin-source file, $SIGIL_PKCS11_PIN), or none.
Result<std::optional<std::string>> read_pin(const Uri& uri);

// A session on `slot`, logged in as the user when `pin` is given and the token's login state
// (shared by the process's sessions) is not logged in already.
Result<CK_SESSION_HANDLE> open_session(const Module& m, CK_SLOT_ID slot, const std::optional<std::string>& pin,
                                       bool read_write);

// Object lookup. Errc::not_found for none, invalid_argument for more than one.
Result<CK_OBJECT_HANDLE> find_one(const Module& m, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const Uri& uri,
                                  const char* what);
Result<Bytes> get_attribute(const Module& m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);

}  // namespace sigil::crypto::pkcs11
