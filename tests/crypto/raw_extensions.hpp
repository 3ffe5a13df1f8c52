#pragma once
// Moved to tests/support/raw_extensions.hpp; kept so includers outside tests/crypto/ build until they switch.
#include "tests/support/raw_extensions.hpp"
