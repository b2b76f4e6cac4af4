/* uffdmap-writeback [GROUP]: write back the stores that processes of a group left in its
 * shared page cache when they all died (SIGKILL, a crash), and remove the group's files. The
 * `uffdmap` wrapper runs it after its program ends; `uffdmap --writeback` runs it by hand.
 * Exit status: 0 when everything reached its file (or nothing was left), 1 if some stores could
 * not be written (each file is named on stderr, its pages kept), 2 if the group still has
 * living members (they write back themselves), 3 for a bad group name. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/group.h"

static int valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 63 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("_-.", name[i]))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : getenv("UFFDMAP_GROUP");
    if (!name || !*name)
        name = "default";
    if (!strcmp(name, "none"))
        return 0;
    if (!valid(name)) {
        fprintf(stderr, "uffdmap-writeback: '%s' is not a group name: expected up to 63 "
                        "letters, digits, '_', '-' and '.', not starting with '.'\n",
                name);
        return 3;
    }
    return um_group_write_back_orphans(name);
}
