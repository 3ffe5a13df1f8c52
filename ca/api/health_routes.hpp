#pragma once
// Private to ca/api: GET /health (readiness) and /health/live, which every listener's router
// (api, acme: api.cpp; public: public.cpp) serves alike.
#include "ca/api/api.hpp"

namespace sigil::api {

// Memory reads only, so answered on the I/O thread.
void add_health_routes(http::Router& r, const ReadinessProbe& probe);

}  // namespace sigil::api
