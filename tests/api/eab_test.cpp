// EAB keys as `sigil acme eab create` and POST /api/v1/acme/eab make them (ca/api make_eab_key).
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "ca/api/api.hpp"
#include "ca/base/encoding.hpp"

using namespace sigil;

TEST_CASE("random EAB kids and HMAC keys never begin with '-' (a client's flag parser takes that for an option)") {
  // Before, 1 in 64 of each did: in 2,000 keys, about 31 kids and 31 keys.
  std::set<std::string> kids;
  for (int i = 0; i < 2000; ++i) {
    auto k = api::make_eab_key("", "", {}, 0);
    REQUIRE(k.has_value());
    CHECK(k->kid.front() != '-');
    CHECK(base64url_encode(k->hmac_key).front() != '-');
    CHECK(k->hmac_key.size() == 32);
    kids.insert(k->kid);
  }
  CHECK(kids.size() == 2000);
}

TEST_CASE("a chosen kid is kept, one beginning with '-' or with other characters is refused") {
  auto ok = api::make_eab_key("team-a_1.x", "", {}, 0);
  REQUIRE(ok.has_value());
  CHECK(ok->kid == "team-a_1.x");
  for (const char* bad : {"-team", "team a", "team/a", "t\xc3\xa9"}) {
    CAPTURE(bad);
    auto r = api::make_eab_key(bad, "", {}, 0);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::invalid_argument);
  }
}
