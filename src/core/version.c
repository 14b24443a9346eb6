#include "core/internal.h"

ALS_API int als_version_number(void) { return ALS_VERSION_NUMBER; }
ALS_API const char *als_version_string(void) { return ALS_VERSION_STRING; }
