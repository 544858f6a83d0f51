/*
 * The pod sandbox's "pause" process: it holds the pod's namespaces open, reaps the zombies of processes that end up
 * re-parented to it (it is PID 1 when the pod shares its PID namespace), and exits on SIGTERM or SIGINT.
 *
 * Built statically by tools/cluster/pause_image.py (gcc -static -Os), because no image can be pulled here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_stop(int signal_number) { stop_signal = signal_number; }

static void reap(int signal_number) {
    (void)signal_number;
    /* Several children may end before one SIGCHLD is delivered: reap every one that has. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static int on(int signal_number, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = signal_number == SIGCHLD ? SA_NOCLDSTOP | SA_RESTART : 0;
    return sigaction(signal_number, &action, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("ml-platform pause 1");
        return 0;
    }
    if (getpid() != 1) {
        /* Harmless, as upstream's pause says too: zombies in this namespace are then someone else's to reap. */
        fputs("pause: not PID 1; zombies are reaped only for this process's own children\n", stderr);
    }
    /* The stop signals stay blocked except inside sigsuspend(), so one that arrives between the loop's test and
       the wait is not lost (as it could be with pause()). */
    sigset_t stop_signals, while_waiting;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, &while_waiting) || on(SIGINT, on_stop) || on(SIGTERM, on_stop) ||
        on(SIGCHLD, reap)) {
        fprintf(stderr, "pause: %s\n", strerror(errno));
        return 1;
    }
    sigdelset(&while_waiting, SIGINT);
    sigdelset(&while_waiting, SIGTERM);
    while (!stop_signal) {
        sigsuspend(&while_waiting);
    }
    fprintf(stderr, "pause: shutting down, got signal %d\n", stop_signal);
    return 0;
}
