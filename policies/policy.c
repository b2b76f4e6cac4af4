#include "policy.h"

#include <string.h>

static const struct um_policy_ops *const policies[UM_NPOLICIES] = {&um_policy_fifo, &um_policy_clock,
                                                                   &um_policy_2q};

const struct um_policy_ops *um_policy_find(const char *name)
{
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
        if (name && !strcmp(policies[i]->name, name))
            return policies[i];
    return NULL;
}

const struct um_policy_ops *um_policy_at(unsigned index)
{
    return index < sizeof policies / sizeof policies[0] ? policies[index] : policies[0];
}

unsigned um_policy_index(const struct um_policy_ops *ops)
{
    for (unsigned i = 0; i < sizeof policies / sizeof policies[0]; i++)
        if (policies[i] == ops)
            return i;
    return 0;
}
