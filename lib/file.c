/*
 * file.c: a file replaced whole, and the lock its writers take turns by.
 *
 * A reader sees the old file or the new one, never half of either, and a
 * crash or a full disk leaves the old one: the bytes go to a temporary
 * file of a name nobody else uses, in the same directory, which is
 * fsynced, renamed over the file, and then the directory is fsynced so
 * the rename itself is on the disk.  The new file keeps the mode and
 * owner someone gave the old one; a file made anew gets what open(2)
 * gives any new file (0666 less the umask).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ami.h"

/* path's directory into dir: -1 (ENAMETOOLONG) when it does not fit */
static int
dirof(const char *path, char *dir, size_t cap)
{
	char copy[PATH_MAX];

	if (strlcpy(copy, path, sizeof(copy)) >= sizeof(copy) ||
	    strlcpy(dir, dirname(copy), cap) >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* a new file ".NAME.XXXXXX" beside path, made here and nowhere else:
 * fd, its name in tmp; -1 with errno */
static int
maketemp(const char *path, char *tmp, size_t cap)
{
	char dir[PATH_MAX], copy[PATH_MAX];

	strlcpy(copy, path, sizeof(copy));
	if (dirof(path, dir, sizeof(dir)) == -1 || (size_t)snprintf(tmp, cap,
	    "%s/.%s.XXXXXX", dir, basename(copy)) >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkostemp(tmp, O_CLOEXEC);
}

/* mkstemp's 0600 becomes the old file's mode and owner, or when there is
 * none the mode any new file gets (0666 less the umask); 0 or -1 (errno) */
static int
givemode(int fd, const char *path, const char *tmp)
{
	struct stat st;
	mode_t mask;

	if (lstat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
		mask = umask(0);
		umask(mask);
		return fchmod(fd, 0666 & ~mask);
	}
	if (fchown(fd, st.st_uid, st.st_gid) == -1 && errno != EPERM)
		warn("%s: chown", tmp);
	return fchmod(fd, st.st_mode & 07777);
}

int
ami_file_replace(const char *path, const void *p, size_t n, const char **what)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct ami_buf b = { (char *)p, n, n };
	int fd, dfd, e;

	*what = "temporary file";
	if ((fd = maketemp(path, tmp, sizeof(tmp))) == -1)
		return -1;
	*what = "write";
	if (givemode(fd, path, tmp) == -1 || ami_buf_flush(&b, fd) == -1 ||
	    fsync(fd) == -1) {
		e = errno;
		close(fd);
		errno = e;
		goto fail;
	}
	if (close(fd) == -1)
		goto fail;
	*what = "rename";
	if (rename(tmp, path) == -1)
		goto fail;
	/* done for every reader; only a crash could still undo it */
	*what = NULL;
	if (dirof(path, dir, sizeof(dir)) == -1 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		warn("%s: fsync of its directory", path);
		return 0;
	}
	if (fsync(dfd) == -1)
		warn("%s: fsync of its directory", path);
	close(dfd);
	return 0;
fail:
	e = errno;
	unlink(tmp);
	errno = e;
	return -1;
}

/* who holds an flock on fd's file, from /proc/locks: its pid, or 0 */
static long
holder(int fd)
{
	struct stat st;
	char line[256];
	unsigned long maj, min, ino;
	long pid, found = 0;
	FILE *fp;

	if (fstat(fd, &st) == -1 || (fp = fopen("/proc/locks", "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "%*s FLOCK %*s %*s %ld %lx:%lx:%lu", &pid, &maj,
		    &min, &ino) == 4 && ino == st.st_ino &&
		    makedev(maj, min) == st.st_dev && pid > 0)
			found = pid;
	fclose(fp);
	return found;
}

int
ami_file_lock(const char *path, char *errbuf, size_t errlen)
{
	char dir[PATH_MAX];
	int64_t until = ami_now_ms() + AMI_FILE_LOCK_MS;
	struct timespec nap = { 0, 20 * 1000000 };
	long pid;
	int fd;

	/* the file itself is replaced on every write; its directory stays */
	if (dirof(path, dir, sizeof(dir)) == -1)
		strlcpy(dir, path, sizeof(dir));
	else if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		goto wait;
	snprintf(errbuf, errlen, "%s: lock: %s", dir, strerror(errno));
	return -1;
wait:
	/* a writer holds it for milliseconds; one that holds it longer is
	 * stuck (or stopped), and waiting for it silently helps nobody */
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if ((errno != EWOULDBLOCK && errno != EINTR) ||
		    ami_now_ms() >= until) {
			if (errno != EWOULDBLOCK && errno != EINTR)
				snprintf(errbuf, errlen, "%s: lock: %s", dir,
				    strerror(errno));
			else if ((pid = holder(fd)) > 0)
				snprintf(errbuf, errlen, "%s: process %ld has held "
				    "the lock for more than %d s", dir, pid,
				    AMI_FILE_LOCK_MS / 1000);
			else
				snprintf(errbuf, errlen, "%s: another process has "
				    "held the lock for more than %d s (see "
				    "/proc/locks)", dir, AMI_FILE_LOCK_MS / 1000);
			close(fd);
			return -1;
		}
		nanosleep(&nap, NULL);
	}
	return fd;
}
