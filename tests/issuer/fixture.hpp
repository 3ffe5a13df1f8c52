#pragma once
// Moved to tests/support/test_ca.hpp; kept so includers outside tests/issuer/ build until they switch.
#include "tests/support/test_ca.hpp"
