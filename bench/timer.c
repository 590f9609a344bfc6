/*
 * timer: run a command N times, one after the other, and say how long each
 * run took on the wall clock (CLOCK_MONOTONIC, from just before fork(2) to
 * the end of wait4(2)).  stdin, stdout and stderr are inherited.
 *
 * usage: timer [-n runs] command [arg ...]
 * prints on stderr, in seconds:
 *   "timer: runs R failed F mean M p50 P max X first S"
 * exit status: 0, or 1 if any run exited non-zero or on a signal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	double *t, t0, sum = 0, first;
	long runs = 1, i, failed = 0;
	int st, ch;
	pid_t pid;

	while ((ch = getopt(argc, argv, "+n:")) != -1) {
		switch (ch) {
		case 'n':
			runs = strtol(optarg, NULL, 10);
			if (runs < 1) {
				fprintf(stderr, "timer: -n %s: want 1 or more\n", optarg);
				return 2;
			}
			break;
		default:
			goto usage;
		}
	}
	argv += optind;
	if (*argv == NULL)
		goto usage;
	if ((t = calloc(runs, sizeof(*t))) == NULL) {
		perror("timer: calloc");
		return 2;
	}
	for (i = 0; i < runs; i++) {
		t0 = now();
		if ((pid = fork()) == -1) {
			perror("timer: fork");
			return 2;
		}
		if (pid == 0) {
			execvp(argv[0], argv);
			fprintf(stderr, "timer: %s: %s\n", argv[0], strerror(errno));
			_exit(127);
		}
		while (waitpid(pid, &st, 0) == -1)
			if (errno != EINTR) {
				perror("timer: waitpid");
				return 2;
			}
		t[i] = now() - t0;
		sum += t[i];
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	first = t[0];
	qsort(t, runs, sizeof(*t), cmp);
	fprintf(stderr, "timer: runs %ld failed %ld mean %.6f p50 %.6f max %.6f "
	    "first %.6f\n", runs, failed, sum / runs, t[(runs - 1) / 2],
	    t[runs - 1], first);
	return failed ? 1 : 0;
usage:
	fprintf(stderr, "usage: timer [-n runs] command [arg ...]\n");
	return 2;
}
