// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers the benchmarks of bench/ share (they are built against the test
 * helpers): settings from the environment, medians, one fio run.
 */
#include "tlt.h"

unsigned long tlt_env_ul(const char *name, unsigned long dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 10) : dflt;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void tlt_sort_doubles(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

double tlt_median(double *v, size_t n)
{
	if (!n)
		return 0;
	tlt_sort_doubles(v, n);
	return v[n / 2];
}

double tlt_fio_write_kib(const char *node, const char *args, unsigned long seconds)
{
	char cmd[1024], line[8192];
	double bw = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "fio --name=bench --filename=%s %s --runtime=%lu --time_based"
		 " --group_reporting --minimal 2>/dev/null", node, args, seconds);
	fflush(stdout);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *save = NULL, *tok = strtok_r(line, ";", &save);

		/* Terse format v3: field 48 is the write bandwidth in KiB/s. */
		for (int field = 1; tok; field++, tok = strtok_r(NULL, ";", &save))
			if (field == 48)
				bw = strtod(tok, NULL);
	}
	if (pclose(p) != 0)
		return -1;
	return bw;
}
