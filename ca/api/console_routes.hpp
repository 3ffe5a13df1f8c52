#pragma once
// Private to ca/api: the web console's routes (console.cpp) and the rule every api POST keeps
// against cross-site requests a browser could be made to send with its client certificate.
#include "ca/api/api.hpp"

namespace sigil::api {

// /ui (redirect), /ui/ and /ui/{file} (ca/ui's files), GET /api/v1/whoami, /hierarchy, /stats,
// /audit and /acme/accounts/{id}/orders. Authenticated by the api's client-certificate
// authenticator, which api_router installs after adding them.
void add_console_routes(http::Router& r, Deps& deps);

// A browser attaches the client certificate to any request to this origin, a cross-site form's
// included, so a POST that comes from a browser (it carries Origin or Sec-Fetch-Site) must be
// same-origin, JSON, and carry "X-Sigil-Console: 1", a header no form or simple cross-site request
// can send. forbidden otherwise. Clients that are not browsers (the CLI, curl) send none of these
// headers and are unaffected.
Status check_browser_post(const http::Request& req);

}  // namespace sigil::api
