/* Transitional: the leak audit and gc are harness/reclaim.h now.  Kept only
 * because harness/report.h still includes "cleanup.h"; delete this file
 * once that include names "reclaim.h" (the scope-cleanup attributes are
 * runtime/base/cleanup.h, which this never was). */
#pragma once

#include "reclaim.h"
