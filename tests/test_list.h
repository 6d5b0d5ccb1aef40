/* Every test, by name: X(name) runs test_name from tests/<sub>/test_*.c.
 * Each folder keeps its own list so that subsystems can grow apart. */
#include "isolate/list.h"
#include "http/list.h"
#include "fetch/list.h"
#include "runtime/list.h"
#include "cache/list.h"
#include "cli/list.h"
