// PKCS#11 modules (dlopen, one C_Initialize per process), slots, sessions and logins.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "ca/base/file.hpp"
#include "ca/crypto/pkcs11/pkcs11_internal.hpp"

#ifndef SIGIL_P11_MODULE_DIR
#define SIGIL_P11_MODULE_DIR "/usr/lib/x86_64-linux-gnu/pkcs11"
#endif

namespace sigil::crypto::pkcs11 {
namespace {

// Every module this process loaded, by path: C_Initialize must not run twice in one process, and
// the login state belongs to the process, so every key of a module shares one Module.
struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Module>> modules;
};
Registry& registry() {
  static Registry r;
  return r;
}

// C_Finalize from an atexit handler registered after the module's C_Initialize: it runs before
// the module's own static destructors (registered earlier, run later), which a C_Finalize from
// a static destructor of ours would follow into freed memory.
void finalize_modules() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (auto& [path, m] : r.modules) m->finalize();
}

Result<std::string> module_file(const Uri& uri) {
  if (!uri.module_path.empty()) {
    // dlopen searches the library path for a relative name: only an absolute path names one file.
    if (uri.module_path.front() != '/')
      return make_error(Errc::invalid_argument, "PKCS#11 URI: module-path must be an absolute path");
    return uri.module_path;
  }
  if (!uri.module_name.empty()) {
    if (uri.module_name.find('/') != std::string::npos)
      return make_error(Errc::invalid_argument, "PKCS#11 URI: module-name must not contain '/' (use module-path)");
    for (const std::string& candidate : {std::string(SIGIL_P11_MODULE_DIR) + "/" + uri.module_name + ".so",
                                         std::string(SIGIL_P11_MODULE_DIR) + "/lib" + uri.module_name + ".so"})
      if (std::filesystem::exists(candidate)) return candidate;
    return make_error(Errc::not_found, "PKCS#11 module '" + uri.module_name +
                                           "' not found in " SIGIL_P11_MODULE_DIR
                                           " (give module-path=/path/to/module.so)");
  }
  return make_error(Errc::invalid_argument,
                    "the PKCS#11 URI names no module: add ?module-path=/path/to/module.so (SoftHSM: "
                    "/usr/lib/softhsm/libsofthsm2.so)");
}

// Token and slot info fields are blank-padded, not terminated.
std::string padded(const unsigned char* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

bool matches(const std::optional<std::string>& want, const unsigned char* field, std::size_t n) {
  return !want || *want == padded(field, n);
}

}  // namespace

Module::Module(std::string path, void* handle, CK_FUNCTION_LIST* f, bool finalize)
    : path_(std::move(path)), handle_(handle), f_(f), finalize_(finalize) {}

Module::~Module() {
  // No dlclose: a thread still in the module at exit must not land in unmapped code. C_Finalize
  // ran at exit (finalize_modules).
  (void)handle_;
}

void Module::finalize() {
  if (finalize_) f_->C_Finalize(nullptr);
  finalize_ = false;
}

Result<std::shared_ptr<Module>> Module::load(const Uri& uri) {
  SIGIL_TRY(std::string path, module_file(uri));
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (auto it = r.modules.find(path); it != r.modules.end()) return it->second;
  if (!std::filesystem::exists(path)) return make_error(Errc::not_found, "PKCS#11 module " + path + " does not exist");
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return make_error(Errc::not_found, "cannot load PKCS#11 module " + path + ": " + (why ? why : "dlopen failed"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST* f = nullptr;
  if (!get_list || get_list(&f) != CKR_OK || !f) {
    dlclose(handle);
    return make_error(Errc::invalid_argument, path + " is not a PKCS#11 module (no C_GetFunctionList)");
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  const CK_RV rv = f->C_Initialize(&args);
  // Already initialised by someone else in this process: use it, leave C_Finalize to them.
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    dlclose(handle);
    return make_error(Errc::unavailable, "PKCS#11 module " + path + " did not initialise: " + rv_name(rv));
  }
  auto m = std::make_shared<Module>(path, handle, f, rv == CKR_OK);
  r.modules.emplace(path, m);
  // Once per module initialised: each handler runs before that module's destructors.
  if (rv == CKR_OK) std::atexit(finalize_modules);
  return m;
}

std::string rv_name(CK_RV rv) {
  static const std::map<CK_RV, const char*> kNames = {
      {CKR_OK, "CKR_OK"},
      {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
      {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
      {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
      {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
      {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
      {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
      {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
      {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
      {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
      {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
      {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
      {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
      {CKR_PIN_INVALID, "CKR_PIN_INVALID"},
      {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
      {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
      {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
      {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
      {CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
      {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
      {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
      {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
      {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
      {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
      {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
      {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
      {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
      {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
      {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
      {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
      {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
      {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
      {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"},
      {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
      {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
  };
  if (auto it = kNames.find(rv); it != kNames.end()) return it->second;
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR 0x%lx", static_cast<unsigned long>(rv));
  return buf;
}

Error token_error(CK_RV rv, std::string_view what) {
  switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
    case CKR_USER_PIN_NOT_INITIALIZED:
      return make_error(Errc::unauthorized, std::string(what) + ": " + rv_name(rv));
    default:
      return make_error(Errc::unavailable, std::string(what) + ": " + rv_name(rv));
  }
}

Result<CK_SLOT_ID> find_slot(const Module& m, const Uri& uri) {
  CK_ULONG n = 0;
  if (CK_RV rv = m.f().C_GetSlotList(CK_TRUE, nullptr, &n); rv != CKR_OK) return token_error(rv, "C_GetSlotList");
  std::vector<CK_SLOT_ID> slots(n);
  if (CK_RV rv = m.f().C_GetSlotList(CK_TRUE, slots.data(), &n); rv != CKR_OK) return token_error(rv, "C_GetSlotList");
  slots.resize(n);
  std::vector<CK_SLOT_ID> found;
  for (CK_SLOT_ID slot : slots) {
    if (uri.slot_id && *uri.slot_id != slot) continue;
    CK_SLOT_INFO si{};
    CK_TOKEN_INFO ti{};
    if (m.f().C_GetSlotInfo(slot, &si) != CKR_OK || m.f().C_GetTokenInfo(slot, &ti) != CKR_OK) continue;
    if (!matches(uri.slot_description, si.slotDescription, sizeof si.slotDescription) ||
        !matches(uri.slot_manufacturer, si.manufacturerID, sizeof si.manufacturerID) ||
        !matches(uri.token, ti.label, sizeof ti.label) ||
        !matches(uri.manufacturer, ti.manufacturerID, sizeof ti.manufacturerID) ||
        !matches(uri.serial, ti.serialNumber, sizeof ti.serialNumber) || !matches(uri.model, ti.model, sizeof ti.model))
      continue;
    found.push_back(slot);
  }
  const std::string which = uri.token ? "token '" + *uri.token + "'" : "a token";
  if (found.empty()) return make_error(Errc::not_found, "no " + which + " present in PKCS#11 module " + m.path());
  if (found.size() > 1)
    return make_error(Errc::invalid_argument, std::to_string(found.size()) + " tokens match " + which + " in " +
                                                  m.path() + ": name it (token=, serial= or slot-id=)");
  return found.front();
}

std::string token_label(const Module& m, CK_SLOT_ID slot) {
  CK_TOKEN_INFO ti{};
  if (m.f().C_GetTokenInfo(slot, &ti) != CKR_OK) return "slot " + std::to_string(slot);
  return padded(ti.label, sizeof ti.label);
}

Result<std::optional<std::string>> read_pin(const Uri& uri) {
  if (uri.pin_value) return std::optional<std::string>(*uri.pin_value);
  std::string source = uri.pin_source;
  if (source.empty()) {
    if (const char* env = std::getenv("SIGIL_PKCS11_PIN"); env && *env) return std::optional<std::string>(env);
    return std::optional<std::string>{};
  }
  if (source.rfind("file:", 0) == 0) {
    source = source.substr(5);
    // file:///path and file:/path both name /path.
    if (source.rfind("//", 0) == 0) source = source.substr(2);
  }
  auto pin = read_file(source, 4096);
  if (!pin) return pin.error().context("the PKCS#11 pin-source");
  while (!pin->empty() && (pin->back() == '\n' || pin->back() == '\r')) pin->pop_back();
  return std::optional<std::string>(std::move(*pin));
}

Result<CK_SESSION_HANDLE> open_session(const Module& m, CK_SLOT_ID slot, const std::optional<std::string>& pin,
                                       bool read_write) {
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  if (CK_RV rv = m.f().C_OpenSession(slot, flags, nullptr, nullptr, &s); rv != CKR_OK)
    return token_error(rv, "cannot open a session on token '" + token_label(m, slot) + "'");
  CK_SESSION_INFO info{};
  const bool logged_in = m.f().C_GetSessionInfo(s, &info) == CKR_OK &&
                         (info.state == CKS_RO_USER_FUNCTIONS || info.state == CKS_RW_USER_FUNCTIONS);
  if (pin && !logged_in) {
    std::string p = *pin;  // C_Login takes a non-const pointer
    const CK_RV rv = m.f().C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(p.data()), p.size());
    std::fill(p.begin(), p.end(), '\0');
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      m.f().C_CloseSession(s);
      if (rv == CKR_PIN_INCORRECT)
        return make_error(Errc::unauthorized, "wrong PIN for token '" + token_label(m, slot) + "'");
      return token_error(rv, "login to token '" + token_label(m, slot) + "' failed");
    }
  }
  return s;
}

Result<CK_OBJECT_HANDLE> find_one(const Module& m, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const Uri& uri,
                                  const char* what) {
  std::vector<CK_ATTRIBUTE> tmpl;
  tmpl.push_back({CKA_CLASS, &cls, sizeof cls});
  std::string label = uri.object.value_or("");
  Bytes id = uri.id.value_or(Bytes{});
  if (uri.object) tmpl.push_back({CKA_LABEL, label.data(), label.size()});
  if (uri.id) tmpl.push_back({CKA_ID, id.data(), id.size()});
  if (CK_RV rv = m.f().C_FindObjectsInit(s, tmpl.data(), tmpl.size()); rv != CKR_OK)
    return token_error(rv, "C_FindObjectsInit");
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  const CK_RV rv = m.f().C_FindObjects(s, found, 2, &n);
  m.f().C_FindObjectsFinal(s);
  if (rv != CKR_OK) return token_error(rv, "C_FindObjects");
  const std::string name = uri.object ? "'" + *uri.object + "'" : "with that id";
  if (n == 0) return make_error(Errc::not_found, std::string("no ") + what + " " + name + " in the token");
  if (n > 1)
    return make_error(Errc::invalid_argument, std::string("more than one ") + what + " " + name +
                                                  " in the token: add id= or object= to the URI");
  return found[0];
}

Result<Bytes> get_attribute(const Module& m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  if (CK_RV rv = m.f().C_GetAttributeValue(s, o, &a, 1); rv != CKR_OK) return token_error(rv, "C_GetAttributeValue");
  if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
    return make_error(Errc::not_found, "the key object lacks a needed attribute");
  Bytes out(a.ulValueLen);
  a.pValue = out.data();
  if (CK_RV rv = m.f().C_GetAttributeValue(s, o, &a, 1); rv != CKR_OK) return token_error(rv, "C_GetAttributeValue");
  out.resize(a.ulValueLen);
  return out;
}

}  // namespace sigil::crypto::pkcs11
