/* The pod sandbox's process: it holds the pod's namespaces and reaps orphans until told to
 * stop. The same job as Kubernetes' build/pause/linux/pause.c, written again so the local
 * cluster needs no image from a registry it cannot reach. Built static (scripts/cluster). */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signo) { _exit(signo == SIGINT || signo == SIGTERM ? 0 : 1); }

static void reap(int signo) {
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction on_stop = {.sa_handler = stop}, on_child = {.sa_handler = reap,
                                                                 .sa_flags = SA_NOCLDSTOP};
    if (getpid() != 1) {
        /* Not a sandbox: nothing to hold, and pausing forever would only hang a caller. */
        return 1;
    }
    sigaction(SIGINT, &on_stop, NULL);
    sigaction(SIGTERM, &on_stop, NULL);
    sigaction(SIGCHLD, &on_child, NULL);
    for (;;) {
        pause();
    }
}
