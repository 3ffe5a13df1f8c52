#include "store/store.hpp"

namespace sigil::store {

const char* to_string(CertStatus s) {
  switch (s) {
    case CertStatus::pending: return "pending";
    case CertStatus::valid: return "valid";
    case CertStatus::revoked: return "revoked";
  }
  return "unknown";
}

}  // namespace sigil::store
