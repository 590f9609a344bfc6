/*
 * clock.c: the one clock the tools time things by, and the one backoff
 * they wait by after a failure.  CLOCK_MONOTONIC: a wall clock set back
 * would stall every timer.  The jitter comes from arc4random(3), seeded by
 * the system, so clients started together do not retry in step.
 */
#include <stdlib.h>
#include <time.h>

#include "ami.h"

int64_t
ami_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
ami_now_ms(void)
{
	return ami_now_us() / 1000;
}

int64_t
ami_backoff(unsigned tries, int64_t min, int64_t max)
{
	int64_t base = min << (tries < 16 ? tries : 16);

	if (base > max)
		base = max;
	return base / 2 + arc4random_uniform((uint32_t)(base / 2 + 1));
}
