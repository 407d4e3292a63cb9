#include "cdc_ext.h"
