#include <doctest/doctest.h>

#include "ca/service/config.hpp"
#include "ca/service/own_names.hpp"

using namespace sigil;
using namespace sigil::service;

TEST_CASE("bound_ip_addresses: specific addresses of the TLS listeners, canonical, once each") {
  Config c;
  c.listeners.api = "127.0.0.1:9443";
  c.listeners.acme = "127.0.0.1:8443";
  c.listeners.public_ = "10.1.2.3:8080";  // plain HTTP: no certificate names it
  CHECK(bound_ip_addresses(c) == std::vector<std::string>{"127.0.0.1"});
  c.listeners.acme = "[0:0:0:0:0:0:0:1]:0";
  CHECK(bound_ip_addresses(c) == std::vector<std::string>{"127.0.0.1", "::1"});
  c.listeners.api = "0.0.0.0:9443";  // every address: none is named
  c.listeners.acme = "[::]:8443";
  CHECK(bound_ip_addresses(c).empty());
  c.listeners.api = "not-an-address";
  CHECK(bound_ip_addresses(c).empty());
}

TEST_CASE("single_address_range") {
  CHECK(single_address_range("127.0.0.1") == "127.0.0.1/32");
  CHECK(single_address_range("::1") == "::1/128");
}

TEST_CASE("listener_url: the address when the certificate names it, else the DNS name") {
  const std::vector<std::string> named{"127.0.0.1"};
  CHECK(listener_url("127.0.0.1:9443", true, named, "ca.corp.example") == "https://127.0.0.1:9443");
  CHECK(listener_url("[::1]:9443", true, named, "ca.corp.example") == "https://ca.corp.example:9443");
  CHECK(listener_url("[::1]:9443", true, {"::1"}, "localhost") == "https://[::1]:9443");
  CHECK(listener_url("0.0.0.0:9443", true, named, "localhost") == "https://localhost:9443");
  CHECK(listener_url("10.1.2.3:8080", false, {}, "localhost") == "http://10.1.2.3:8080");
  CHECK(listener_url("[::]:8080", false, {}, "ca.corp.example") == "http://ca.corp.example:8080");
}
