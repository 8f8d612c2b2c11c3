/* rusage: runs a command and prints what the kernel accounted for it, one line:
 *   wall_us utime_us stime_us maxrss_kib status
 * appended to FILE. Usage: rusage FILE COMMAND [ARG...]
 *
 * Why a C helper rather than python3's os.wait4: on Linux a child's ru_maxrss keeps the
 * high-water RSS of the address space it had before exec(), i.e. of the process that forked
 * it. Forked from python3 (~14 MiB), even /bin/true "peaks" at ~14 MiB. Forked from this
 * small program, the floor is ~1 MiB (footprint.sh prints it), below anything measured.
 *
 * The figures come from wait4() on the direct child: its own usage plus that of every
 * descendant it waited for (the kernel adds them when it reaps the child). CPU times add
 * up over that tree; ru_maxrss is the largest single process in it, not a sum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long us(struct timeval t) { return (long long)t.tv_sec * 1000000 + t.tv_usec; }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rusage FILE COMMAND [ARG...]\n");
        return 2;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long wall = (long long)(end.tv_sec - start.tv_sec) * 1000000 +
                     (end.tv_nsec - start.tv_nsec) / 1000;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *out = fopen(argv[1], "a");
    if (!out) {
        perror(argv[1]);
        return 2;
    }
    fprintf(out, "%lld %lld %lld %ld %d\n", wall, us(ru.ru_utime), us(ru.ru_stime),
            ru.ru_maxrss, code);
    fclose(out);
    return 0;
}
