#pragma once
// Checks a router's whole route table against the authentication each route must declare
// ("METHOD pattern" -> Auth), so a route added without its entry here, or with another
// authentication, fails the module's test.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "ca/http/http.hpp"

namespace sigil::test {

inline void check_route_auth(const http::Router& router, const std::map<std::string, http::Auth>& expected) {
  CHECK(router.routes().size() == expected.size());
  for (const auto& r : router.routes()) {
    const std::string key = r.method + " " + r.pattern;
    CAPTURE(key);
    auto it = expected.find(key);
    REQUIRE(it != expected.end());
    CHECK(r.auth == it->second);
  }
}

}  // namespace sigil::test
