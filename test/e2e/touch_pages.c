/* touch_pages FILE seq|rand [PAGES]: map FILE read-only and read one byte of each of PAGES
 * distinct 4 KiB pages (default all), in file order or in a random order. For readahead.sh,
 * which reads the shim's statistics. */
#include "common.h"

int main(int argc, char **argv)
{
    CHECK(argc >= 3, "usage: %s FILE seq|rand [PAGES]", argv[0]);
    int fd = open_ro(argv[1]);
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat");
    size_t npages = (size_t)st.st_size / PAGE;
    size_t touches = argc > 3 ? strtoul(argv[3], NULL, 10) : npages;
    const volatile uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap");
    size_t *order = malloc(npages * sizeof *order);
    for (size_t i = 0; i < npages; i++)
        order[i] = i;
    if (!strcmp(argv[2], "rand"))
        for (size_t i = npages - 1; i > 0; i--) { /* Fisher-Yates: distinct pages */
            size_t j = mix64(i) % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    uint64_t sum = 0;
    for (size_t i = 0; i < touches && i < npages; i++)
        sum += p[order[i] * PAGE + 17];
    printf("touched=%zu sum=%llu\n", touches, (unsigned long long)sum);
    return 0;
}
