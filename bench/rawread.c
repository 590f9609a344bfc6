/*
 * rawread: the raw limit for the benchmark.  Connects to an AMI server,
 * sends a plain Login, then only counts bytes (read(2) into a 1 MiB
 * buffer) until EOF.  No parsing at all: the best any client could do.
 *
 * usage: rawread host port username secret [filter ...]
 * Each filter is sent as an AMI Filter action after the Login (what
 * amicat -e pushes), so the count is the bytes a filtered client gets.
 * prints: "bytes seconds" (seconds from connect to EOF, monotonic clock)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#define BUFSZ (1 << 20)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	char login[4096], *buf;
	unsigned long long total = 0;
	double t0, t1;
	ssize_t n;
	int fd, len, i;

	if (argc < 5) {
		fprintf(stderr, "usage: rawread host port username secret [filter ...]\n");
		return 2;
	}
	if ((buf = malloc(BUFSZ)) == NULL) {
		perror("rawread: malloc");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
		fprintf(stderr, "rawread: bad address %s\n", argv[1]);
		return 2;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
		perror("rawread: socket");
		return 2;
	}
	t0 = now();
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("rawread: connect");
		return 2;
	}
	len = snprintf(login, sizeof(login), "Action: Login\r\nUsername: %s\r\n"
	    "Secret: %s\r\nEvents: on\r\n\r\n", argv[3], argv[4]);
	for (i = 5; i < argc && len > 0 && len < (int)sizeof(login); i++)
		len += snprintf(login + len, sizeof(login) - len,
		    "Action: Filter\r\nOperation: Add\r\nFilter: %s\r\n\r\n",
		    argv[i]);
	if (len < 0 || len >= (int)sizeof(login) || write(fd, login, len) != len) {
		perror("rawread: write");
		return 2;
	}
	for (;;) {
		n = read(fd, buf, BUFSZ);
		if (n > 0)
			total += n;
		else if (n == 0)
			break;
		else if (errno != EINTR) {
			perror("rawread: read");
			return 2;
		}
	}
	t1 = now();
	printf("%llu %.6f\n", total, t1 - t0);
	return 0;
}
