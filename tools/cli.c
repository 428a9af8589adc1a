// SPDX-License-Identifier: GPL-2.0
/*
 * cli.c - command-line parsing of the tloop tool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "libtloop.h"
#include "util.h"

enum {
	OPT_SIZE = 256,
	OPT_DIRECT_IO,
	OPT_TRACK,
	OPT_PERSIST,
	OPT_MEM_LIMIT,
	OPT_RANGES,
	OPT_FSYNC,
	OPT_PROGRESS,
	OPT_CREATE,
	OPT_RESIZE,
	OPT_FULL,
	OPT_MAX_IO,
	OPT_BUFFERED,
	OPT_UNSAFE_NO_FSYNC,
	OPT_QUEUE_DEPTH,
	OPT_MAX_GAP,
	OPT_FULL_AT,
	OPT_CONSISTENT,
	OPT_FREEZE,
	OPT_SNAP_MEM_LIMIT,
	OPT_CONSUMER,
	OPT_STATE_DIR,
	OPT_VIA,
	OPT_TIMEOUT,
	OPT_EVERY,
	OPT_COUNT,
};

static const struct {
	const char *name;
	enum cli_cmd cmd;
	const char *usage;
} commands[] = {
	{ "attach", CMD_ATTACH,
	  "tloop attach [--read-only] [--block-size N] [--size BYTES] [--direct-io]\n"
	  "             [--partscan] [--track] [--persist SIDECAR] FILE\n" },
	{ "detach", CMD_DETACH, "tloop detach DEV...\ntloop detach --all\n" },
	{ "list", CMD_LIST, "tloop list [--json] [--noheadings] [--bytes]\n" },
	{ "status", CMD_STATUS, "tloop status [--json] [--bytes] DEV\n" },
	{ "track", CMD_TRACK, "tloop track on [--mem-limit BYTES] DEV\ntloop track off DEV\n" },
	{ "written", CMD_WRITTEN,
	  "tloop written [--clear] [--ranges] [--json] [--consumer NAME] DEV\n" },
	/* The first name of written, kept for scripts. */
	{ "dirty", CMD_WRITTEN,
	  "tloop dirty [--clear] [--ranges] [--json] DEV\n"
	  "(dirty is another name of written: tloop help written)\n" },
	{ "clear", CMD_CLEAR, "tloop clear [--json] [--consumer NAME] DEV\n" },
	{ "sync", CMD_SYNC,
	  "tloop sync [--progress] [--json] [--create] [--resize] [--full]\n"
	  "           [--max-io BYTES] [--queue-depth N] [--max-gap BYTES]\n"
	  "           [--full-at PERCENT] [--via auto|device|backing|reflink]\n"
	  "           [--buffered] [--unsafe-no-fsync]\n"
	  "           [--consistent [--freeze MOUNTPOINT] [--snap-mem-limit BYTES]]\n"
	  "           [--state-dir DIR] [--timeout SECONDS] [--consumer NAME]\n"
	  "           [--every SECONDS [--count N]] DEV AREA2\n"
	  "AREA2 is a file, a block device, or an NBD URI (nbd://HOST[:PORT]/EXPORT,\n"
	  "nbd+unix:///EXPORT?socket=PATH).\n" },
	{ "verify", CMD_VERIFY,
	  "tloop verify [--json] [--timeout SECONDS] DEV AREA2\n"
	  "Exit status: 0 identical, 3 different, 1 failure.\n" },
	{ "consumer", CMD_CONSUMER,
	  "tloop consumer list [--json] DEV\n"
	  "tloop consumer add [--mem-limit BYTES] [--json] DEV NAME\n"
	  "tloop consumer remove [--json] DEV NAME\n"
	  "NAME: 1 to 31 of A-Z a-z 0-9 . _ -, starting with a letter or digit;\n"
	  "\"default\" is the consumer of tloop written/clear/sync without --consumer.\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_all[] =
	"Usage:\n"
	" tloop attach [options] FILE      attach FILE, print the new device\n"
	" tloop detach DEV... | --all      detach devices\n"
	" tloop list [--json]              list devices\n"
	" tloop status [--json] DEV        show one device and its tracking state\n"
	" tloop track on|off DEV           turn page-write tracking on or off\n"
	" tloop written [--json] DEV       print the written pages (also: tloop dirty)\n"
	" tloop clear DEV                  forget the written pages\n"
	" tloop sync DEV AREA2             copy the written pages into AREA2 (file, device, nbd://)\n"
	" tloop verify DEV AREA2           compare DEV with AREA2, list the pages that differ\n"
	" tloop consumer list|add|remove   named consumers, each with its written set\n"
	" tloop help [COMMAND]             show the options of COMMAND\n"
	" tloop --version\n"
	"\n"
	"DEV is /dev/tloopN (or tloopN).  Exit status: 0 success, 1 failure, 2 usage.\n"
	"See tloop(8).\n";

const char *cli_usage(const char *cmd)
{
	size_t i;

	if (cmd)
		for (i = 0; i < NCOMMANDS; i++)
			if (!strcmp(cmd, commands[i].name))
				return commands[i].usage;
	return usage_all;
}

static __attribute__((format(printf, 3, 4)))
int usage_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

static int size_arg(const char *opt, const char *arg, uint64_t *out, char *err, size_t errlen)
{
	int ret = parse_size(arg, out);

	if (ret == -ERANGE)
		return usage_err(err, errlen, "%s: size too large: '%s'", opt, arg);
	if (ret)
		return usage_err(err, errlen, "%s: not a size: '%s'", opt, arg);
	return 0;
}

/* seconds_arg() - @arg as seconds (0.001 to 86400, decimals allowed) into *@ms. */
static int seconds_arg(const char *opt, const char *arg, unsigned int *ms, char *err,
		       size_t errlen)
{
	char *end;
	double t;

	errno = 0;
	t = strtod(arg, &end);
	if (errno || end == arg || *end || !(t >= 0.001 && t <= 86400))
		return usage_err(err, errlen, "%s: expected seconds (0.001 to 86400), got '%s'",
				 opt, arg);
	*ms = (unsigned int)(t * 1000 + 0.5);
	return 0;
}

/* The options every command accepts, by command; unlisted options are usage errors. */
static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, 'J' },
	{ "noheadings", no_argument, NULL, 'n' },
	{ "bytes", no_argument, NULL, 'b' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "block-size", required_argument, NULL, 'B' },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "direct-io", no_argument, NULL, OPT_DIRECT_IO },
	{ "partscan", no_argument, NULL, 'P' },
	{ "track", no_argument, NULL, OPT_TRACK },
	{ "persist", required_argument, NULL, OPT_PERSIST },
	{ "all", no_argument, NULL, 'a' },
	{ "mem-limit", required_argument, NULL, OPT_MEM_LIMIT },
	{ "clear", no_argument, NULL, 'c' },
	{ "ranges", no_argument, NULL, OPT_RANGES },
	{ "fsync", no_argument, NULL, OPT_FSYNC },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "create", no_argument, NULL, OPT_CREATE },
	{ "resize", no_argument, NULL, OPT_RESIZE },
	{ "full", no_argument, NULL, OPT_FULL },
	{ "max-io", required_argument, NULL, OPT_MAX_IO },
	{ "buffered", no_argument, NULL, OPT_BUFFERED },
	{ "unsafe-no-fsync", no_argument, NULL, OPT_UNSAFE_NO_FSYNC },
	{ "queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH },
	{ "max-gap", required_argument, NULL, OPT_MAX_GAP },
	{ "full-at", required_argument, NULL, OPT_FULL_AT },
	{ "consistent", no_argument, NULL, OPT_CONSISTENT },
	{ "freeze", required_argument, NULL, OPT_FREEZE },
	{ "snap-mem-limit", required_argument, NULL, OPT_SNAP_MEM_LIMIT },
	{ "consumer", required_argument, NULL, OPT_CONSUMER },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "via", required_argument, NULL, OPT_VIA },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "every", required_argument, NULL, OPT_EVERY },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ NULL, 0, NULL, 0 },
};

/* allowed() - whether option @opt belongs to command @cmd. */
static int allowed(enum cli_cmd cmd, int opt)
{
	switch (opt) {
	case 'h':
		return 1;
	case 'J':
		return cmd == CMD_LIST || cmd == CMD_STATUS || cmd == CMD_WRITTEN ||
		       cmd == CMD_SYNC || cmd == CMD_CLEAR || cmd == CMD_CONSUMER ||
		       cmd == CMD_VERIFY;
	case OPT_CONSUMER:
		return cmd == CMD_WRITTEN || cmd == CMD_CLEAR || cmd == CMD_SYNC ||
		       cmd == CMD_STATUS;
	case 'n':
		return cmd == CMD_LIST;
	case 'b':
		return cmd == CMD_LIST || cmd == CMD_STATUS;
	case 'r': case 'B': case OPT_SIZE: case OPT_DIRECT_IO: case 'P': case OPT_TRACK:
	case OPT_PERSIST:
		return cmd == CMD_ATTACH;
	case 'a':
		return cmd == CMD_DETACH;
	case OPT_MEM_LIMIT:
		return cmd == CMD_TRACK || cmd == CMD_CONSUMER;
	case 'c': case OPT_RANGES:
		return cmd == CMD_WRITTEN;
	case OPT_FSYNC: case OPT_PROGRESS: case OPT_CREATE: case OPT_RESIZE: case OPT_FULL:
	case OPT_MAX_IO: case OPT_BUFFERED: case OPT_UNSAFE_NO_FSYNC:
	case OPT_QUEUE_DEPTH: case OPT_MAX_GAP: case OPT_FULL_AT: case OPT_STATE_DIR:
	case OPT_CONSISTENT: case OPT_FREEZE: case OPT_SNAP_MEM_LIMIT:
	case OPT_VIA: case OPT_EVERY: case OPT_COUNT:
		return cmd == CMD_SYNC;
	case OPT_TIMEOUT:
		return cmd == CMD_SYNC || cmd == CMD_VERIFY;
	}
	return 0;
}

static const char *opt_name(int opt)
{
	const struct option *o;

	for (o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static int parse_opt(struct cli *c, int opt, const char *arg, char *err, size_t errlen)
{
	uint64_t v;
	int ret;

	switch (opt) {
	case 'J':
		c->json = 1;
		break;
	case 'n':
		c->noheadings = 1;
		break;
	case 'b':
		c->bytes = 1;
		break;
	case 'r':
		c->add_flags |= TLOOP_FLAG_READ_ONLY;
		break;
	case 'B':
		ret = size_arg("--block-size", arg, &v, err, errlen);
		if (ret)
			return ret;
		if (v != 512 && v != 4096)
			return usage_err(err, errlen, "--block-size: must be 512 or 4096, not '%s'",
					 arg);
		c->block_size = (unsigned int)v;
		break;
	case OPT_SIZE:
		ret = size_arg("--size", arg, &c->size_limit, err, errlen);
		if (ret)
			return ret;
		if (!c->size_limit)
			return usage_err(err, errlen, "--size: must not be 0");
		break;
	case OPT_DIRECT_IO:
		c->add_flags |= TLOOP_FLAG_DIRECT_IO;
		break;
	case 'P':
		c->add_flags |= TLOOP_FLAG_PARTSCAN;
		break;
	case OPT_TRACK:
		c->add_flags |= TLOOP_FLAG_TRACK;
		break;
	case OPT_PERSIST:
		if (!*arg)
			return usage_err(err, errlen, "--persist: empty path");
		c->persist = arg;
		c->add_flags |= TLOOP_FLAG_TRACK;
		break;
	case 'a':
		c->all = 1;
		break;
	case OPT_MEM_LIMIT:
		return size_arg("--mem-limit", arg, &c->mem_limit, err, errlen);
	case 'c':
		c->clear = 1;
		break;
	case OPT_RANGES:
		c->ranges = 1;
		break;
	case OPT_FSYNC:
		c->sync_flags |= TLOOP_SYNC_FSYNC;
		break;
	case OPT_PROGRESS:
		c->progress = 1;
		break;
	case OPT_CREATE:
		c->sync_flags |= TLOOP_SYNC_CREATE;
		break;
	case OPT_RESIZE:
		c->sync_flags |= TLOOP_SYNC_RESIZE;
		break;
	case OPT_FULL:
		c->sync_flags |= TLOOP_SYNC_FULL;
		break;
	case OPT_BUFFERED:
		c->sync_flags |= TLOOP_SYNC_BUFFERED;
		break;
	case OPT_UNSAFE_NO_FSYNC:
		c->sync_flags |= TLOOP_SYNC_UNSAFE_NO_FSYNC;
		break;
	case OPT_CONSISTENT:
		c->sync_flags |= TLOOP_SYNC_CONSISTENT;
		break;
	case OPT_FREEZE:
		c->freeze = arg;
		break;
	case OPT_SNAP_MEM_LIMIT:
		return size_arg("--snap-mem-limit", arg, &c->snap_mem_limit, err, errlen);
	case OPT_MAX_IO:
		ret = size_arg("--max-io", arg, &c->max_io, err, errlen);
		if (ret)
			return ret;
		if (c->max_io < 4096 || c->max_io > (1ULL << 30))
			return usage_err(err, errlen, "--max-io: must be between 4K and 1G");
		break;
	case OPT_QUEUE_DEPTH:
		ret = size_arg("--queue-depth", arg, &v, err, errlen);
		if (ret)
			return ret;
		if (v < 1 || v > 256)
			return usage_err(err, errlen, "--queue-depth: must be between 1 and 256");
		c->depth = (unsigned int)v;
		break;
	case OPT_MAX_GAP:
		ret = size_arg("--max-gap", arg, &v, err, errlen);
		if (ret)
			return ret;
		if (v > (1ULL << 30))
			return usage_err(err, errlen, "--max-gap: must be at most 1G");
		c->max_gap = v;
		if (!v)
			c->sync_flags |= TLOOP_SYNC_NO_GAPS;
		else
			c->sync_flags &= ~TLOOP_SYNC_NO_GAPS;
		break;
	case OPT_CONSUMER:
		if (!arg[0])
			return usage_err(err, errlen, "--consumer: empty name");
		c->consumer = arg;
		break;
	case OPT_TIMEOUT:
		return seconds_arg("--timeout", arg, &c->timeout_ms, err, errlen);
	case OPT_EVERY:
		return seconds_arg("--every", arg, &c->every_ms, err, errlen);
	case OPT_COUNT:
		ret = size_arg("--count", arg, &v, err, errlen);
		if (ret)
			return ret;
		if (v < 1 || v > UINT32_MAX)
			return usage_err(err, errlen, "--count: must be between 1 and %u",
					 UINT32_MAX);
		c->count = (unsigned int)v;
		break;
	case OPT_STATE_DIR:
		if (!*arg)
			return usage_err(err, errlen, "--state-dir: empty");
		c->state_dir = arg;
		break;
	case OPT_VIA:
		if (!strcmp(arg, "auto"))
			c->via = TLOOP_SYNC_VIA_AUTO;
		else if (!strcmp(arg, "device"))
			c->via = TLOOP_SYNC_VIA_DEVICE;
		else if (!strcmp(arg, "backing"))
			c->via = TLOOP_SYNC_VIA_BACKING;
		else if (!strcmp(arg, "reflink"))
			c->via = TLOOP_SYNC_VIA_REFLINK;
		else
			return usage_err(err, errlen, "--via: must be auto, device, backing "
					 "or reflink, not '%s'", arg);
		break;
	case OPT_FULL_AT:
		ret = size_arg("--full-at", arg, &v, err, errlen);
		if (ret)
			return ret;
		if (v < 1 || v > 101)
			return usage_err(err, errlen, "--full-at: must be a percentage, "
					 "1 to 100, or 101 for never");
		c->full_pct = (unsigned int)v;
		if (v > 100)
			c->sync_flags |= TLOOP_SYNC_NO_AUTO_FULL;
		else
			c->sync_flags &= ~TLOOP_SYNC_NO_AUTO_FULL;
		break;
	}
	return 0;
}

/* operands() - check the positional arguments of the command. */
static int operands(struct cli *c, const char *name, int n, char **args, char *err,
		    size_t errlen)
{
	switch (c->cmd) {
	case CMD_ATTACH:
		if (n != 1)
			return usage_err(err, errlen, "attach: expected one FILE, got %d arguments",
					 n);
		c->file = args[0];
		return 0;
	case CMD_DETACH:
		if (c->all && n)
			return usage_err(err, errlen, "detach: --all takes no devices");
		if (!c->all && !n)
			return usage_err(err, errlen, "detach: no device given");
		break;
	case CMD_LIST:
		if (n)
			return usage_err(err, errlen, "list: unexpected argument '%s'", args[0]);
		return 0;
	case CMD_TRACK:
		if (n != 2)
			return usage_err(err, errlen, "track: expected on|off and one DEV");
		if (!strcmp(args[0], "on"))
			c->track_on = 1;
		else if (strcmp(args[0], "off"))
			return usage_err(err, errlen, "track: expected on or off, not '%s'",
					 args[0]);
		if (!c->track_on && c->mem_limit)
			return usage_err(err, errlen, "track off: --mem-limit makes no sense");
		args++;
		n--;
		break;
	case CMD_SYNC:
	case CMD_VERIFY:
		if (n != 2)
			return usage_err(err, errlen, "%s: expected DEV and AREA2, got %d arguments",
					 name, n);
		c->area2 = args[1];
		n = 1;
		if ((c->freeze || c->snap_mem_limit) && !(c->sync_flags & TLOOP_SYNC_CONSISTENT))
			return usage_err(err, errlen, "sync: --freeze and --snap-mem-limit "
					 "need --consistent");
		if (c->count && !c->every_ms)
			return usage_err(err, errlen, "sync: --count needs --every");
		if (c->every_ms && c->progress)
			return usage_err(err, errlen, "sync: --progress and --every do not go "
					 "together");
		break;
	case CMD_CONSUMER:
		if (!n)
			return usage_err(err, errlen, "consumer: expected list, add or remove");
		if (!strcmp(args[0], "list")) {
			c->consumer_op = CONSUMER_LIST;
			if (n != 2)
				return usage_err(err, errlen, "consumer list: expected one DEV");
		} else if (!strcmp(args[0], "add") || !strcmp(args[0], "remove")) {
			c->consumer_op = args[0][0] == 'a' ? CONSUMER_ADD : CONSUMER_REMOVE;
			if (n != 3)
				return usage_err(err, errlen, "consumer %s: expected DEV and NAME",
						 args[0]);
			c->consumer_name = args[2];
		} else {
			return usage_err(err, errlen,
					 "consumer: expected list, add or remove, not '%s'", args[0]);
		}
		if (c->consumer_op != CONSUMER_ADD && c->mem_limit)
			return usage_err(err, errlen, "consumer %s: --mem-limit makes no sense",
					 args[0]);
		c->devs = args + 1;
		c->ndevs = 1;
		return 0;
	case CMD_STATUS:
	case CMD_WRITTEN:
	case CMD_CLEAR:
		if (n != 1)
			return usage_err(err, errlen, "%s: expected one DEV, got %d arguments", name,
					 n);
		break;
	default:
		break;
	}
	c->devs = args;
	c->ndevs = n;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli *c, char *err, size_t errlen)
{
	const char *name;
	char **av;
	int ac, opt, ret;
	size_t i;

	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	if (argc < 2)
		return usage_err(err, errlen, "no command given");
	name = argv[1];
	if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
		c->cmd = CMD_HELP;
		if (argc > 3)
			return usage_err(err, errlen, "help: too many arguments");
		if (argc == 3) {
			if (cli_usage(argv[2]) == usage_all)
				return usage_err(err, errlen, "help: unknown command '%s'", argv[2]);
			c->help_cmd = argv[2];
		}
		return 0;
	}
	if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
		c->cmd = CMD_VERSION;
		return argc == 2 ? 0 : usage_err(err, errlen, "--version takes no arguments");
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(name, commands[i].name))
			break;
	if (i == NCOMMANDS) {
		if (name[0] == '-')
			return usage_err(err, errlen, "unknown option '%s'", name);
		return usage_err(err, errlen, "unknown command '%s'", name);
	}
	c->cmd = commands[i].cmd;

	/* getopt over "COMMAND args...": av[0] plays the program name. */
	av = argv + 1;
	ac = argc - 1;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(ac, av, ":hJnbrB:Pac", long_opts, NULL)) != -1) {
		const char *bad = optind > 0 && optind <= ac ? av[optind - 1] : "";

		if (opt == '?') {
			if (optopt)
				return usage_err(err, errlen, "%s: unknown option '-%c'", name, optopt);
			return usage_err(err, errlen, "%s: unknown option '%s'", name, bad);
		}
		if (opt == ':')
			return usage_err(err, errlen, "%s: option '%s' needs a value", name, bad);
		if (!allowed(c->cmd, opt)) {
			if (opt < 256)
				return usage_err(err, errlen, "%s: option '-%c' does not apply", name,
						 opt);
			return usage_err(err, errlen, "%s: option '--%s' does not apply", name,
					 opt_name(opt));
		}
		if (opt == 'h') {
			c->cmd = CMD_HELP;
			c->help_cmd = commands[i].name;
			return 0;
		}
		ret = parse_opt(c, opt, optarg, err, errlen);
		if (ret)
			return ret;
	}
	return operands(c, name, ac - optind, av + optind, err, errlen);
}
