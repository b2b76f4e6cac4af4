/* Descriptors the core holds: adopted ones are known and moved high; the room left for
 * optional ones follows RLIMIT_NOFILE. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/fds.h"

static void adopted_descriptors_are_owned(void **state)
{
    (void)state;
    int fd = um_fd_adopt(open("/dev/null", O_RDONLY));
    assert_true(fd >= 0);
    assert_true(um_fd_owned(fd));
    assert_false(um_fd_owned(0));
    um_fd_close(fd);
    assert_false(um_fd_owned(fd));
}

/* With a limit of 64 descriptors, 8 owned ones leave no room for optional ones; 7 do. */
static void room_for_extra_follows_the_limit(void **state)
{
    (void)state;
    struct rlimit old, low = {.rlim_cur = 64};
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[8];
    for (int i = 0; i < 7; i++)
        fds[i] = um_fd_adopt(open("/dev/null", O_RDONLY));
    assert_true(um_fd_room_for_extra());
    fds[7] = um_fd_adopt(open("/dev/null", O_RDONLY));
    assert_false(um_fd_room_for_extra());
    for (int i = 0; i < 8; i++)
        um_fd_close(fds[i]);
    assert_true(um_fd_room_for_extra());
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adopted_descriptors_are_owned),
        cmocka_unit_test(room_for_extra_follows_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
