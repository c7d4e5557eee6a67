#include "streamrec/event.h"

#include <string.h>

static const char *const type_names[SR_EVENT__COUNT] = {
    "UNKNOWN", "VIEW", "ADD_TO_CART", "REMOVE_FROM_CART", "PURCHASE",
};

const char *sr_event_type_name(sr_event_type_t type) {
    if ((unsigned)type >= SR_EVENT__COUNT)
        return type_names[SR_EVENT_UNKNOWN];
    return type_names[type];
}

sr_event_type_t sr_event_type_parse(const char *name, size_t len) {
    for (int t = 0; t < SR_EVENT__COUNT; t++)
        if (strlen(type_names[t]) == len && memcmp(type_names[t], name, len) == 0)
            return (sr_event_type_t)t;
    return SR_EVENT__COUNT;
}
