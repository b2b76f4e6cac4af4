/* Fill reads: bytes and zeroed tail, buffered and O_DIRECT; streaming direct reads wait for
 * the mapping's stream lock, buffered ones do not. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/io.h"

#define FILE_BYTES 10000 /* two pages and a bit */
#define WANT 16384

static char path[] = "/var/tmp/uffdmap-test-io-XXXXXX";
static int fd = -1, direct_fd = -1;

static int make_file(void **state)
{
    (void)state;
    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    char bytes[FILE_BYTES];
    for (int i = 0; i < FILE_BYTES; i++)
        bytes[i] = (char)(i * 7 + 1);
    if (write(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes)
        return -1;
    direct_fd = open(path, O_RDONLY | O_DIRECT); /* -1 where the file system refuses it */
    return 0;
}

static int remove_file(void **state)
{
    (void)state;
    close(fd);
    if (direct_fd >= 0)
        close(direct_fd);
    unlink(path);
    return 0;
}

static void check_bytes(const char *buf)
{
    for (int i = 0; i < FILE_BYTES; i++)
        assert_int_equal(buf[i], (char)(i * 7 + 1));
    for (int i = FILE_BYTES; i < 3 * 4096; i++)
        assert_int_equal(buf[i], 0);
}

static void read_and_check(struct um_io_src *src)
{
    char *buf = aligned_alloc(4096, WANT);
    memset(buf, 0x55, WANT);
    size_t read_bytes = 0;
    assert_int_equal(um_io_read(src, buf, WANT, 0, &read_bytes), 3 * 4096);
    assert_int_equal(read_bytes, FILE_BYTES);
    check_bytes(buf);
    free(buf);
}

static void reads_bytes_and_zeroes_the_tail(void **state)
{
    (void)state;
    _Atomic uint64_t size = 0;
    struct um_io_src buffered = {.fd = fd, .direct_fd = -1, .size = &size};
    read_and_check(&buffered);
    if (direct_fd < 0)
        skip();
    struct um_io_src direct = {.fd = fd, .direct_fd = direct_fd, .direct_always = true,
                               .size = &size};
    read_and_check(&direct);
}

struct reader {
    struct um_io_src src;
    _Atomic bool done;
};

static void *read_in_thread(void *arg)
{
    struct reader *r = arg;
    read_and_check(&r->src);
    atomic_store(&r->done, true);
    return NULL;
}

/* Whether a read with `src` finishes while its stream lock is held by someone else. */
static bool finishes_while_locked(struct um_io_src src)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct reader r = {.src = src};
    r.src.stream = &lock;
    pthread_mutex_lock(&lock);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_in_thread, &r), 0);
    for (int i = 0; i < 100 && !atomic_load(&r.done); i++)
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    bool finished = atomic_load(&r.done);
    pthread_mutex_unlock(&lock);
    pthread_join(t, NULL);
    assert_true(atomic_load(&r.done));
    return finished;
}

static void only_direct_reads_take_the_stream_lock(void **state)
{
    (void)state;
    _Atomic uint64_t size = 0;
    assert_true(finishes_while_locked((struct um_io_src){.fd = fd, .direct_fd = -1,
                                                         .size = &size}));
    if (direct_fd < 0)
        skip();
    assert_false(finishes_while_locked((struct um_io_src){
        .fd = fd, .direct_fd = direct_fd, .direct_always = true, .size = &size}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_bytes_and_zeroes_the_tail),
        cmocka_unit_test(only_direct_reads_take_the_stream_lock),
    };
    return cmocka_run_group_tests(tests, make_file, remove_file);
}
