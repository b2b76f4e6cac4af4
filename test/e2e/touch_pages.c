/* touch_pages FILE seq|seq-hold|halves|rand|store [PAGES]: map FILE and read one byte of each of
 * PAGES distinct 4 KiB pages (default all), in file order (seq-hold: then, its result printed,
 * keep the file mapped until standard input ends), alternately from the first and the
 * second half (two sequential readers interleaved: 0, n/2, 1, n/2 + 1, ...), or in a random
 * order; store: map it shared and writable and store 0xa5 to that byte of each page, in the
 * random order, without reading it first. For readahead.sh, store_fault.sh and
 * group_follow.sh, which read the shim's statistics. */
#include "common.h"

int main(int argc, char **argv)
{
    CHECK(argc >= 3, "usage: %s FILE seq|seq-hold|halves|rand|store [PAGES]", argv[0]);
    bool hold = !strcmp(argv[2], "seq-hold");
    bool store = !strcmp(argv[2], "store");
    int fd = store ? open(argv[1], O_RDWR) : open_ro(argv[1]);
    CHECK(fd >= 0, "open %s", argv[1]);
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat");
    size_t npages = (size_t)st.st_size / PAGE;
    size_t touches = argc > 3 ? strtoul(argv[3], NULL, 10) : npages;
    volatile uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ | (store ? PROT_WRITE : 0),
                               MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap");
    size_t *order = malloc(npages * sizeof *order);
    bool halves = !strcmp(argv[2], "halves");
    for (size_t i = 0; i < npages; i++)
        order[i] = halves ? (i % 2 ? npages / 2 : 0) + i / 2 : i;
    if (strcmp(argv[2], "seq") && !hold && !halves)
        for (size_t i = npages - 1; i > 0; i--) { /* Fisher-Yates: distinct pages */
            size_t j = mix64(i) % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    uint64_t sum = 0;
    for (size_t i = 0; i < touches && i < npages; i++) {
        if (store)
            p[order[i] * PAGE + 17] = 0xa5;
        else
            sum += p[order[i] * PAGE + 17];
    }
    printf("touched=%zu sum=%llu\n", touches, (unsigned long long)sum);
    fflush(stdout);
    while (hold && getchar() != EOF)
        ;
    return 0;
}
