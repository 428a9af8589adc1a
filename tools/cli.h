/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cli.h - the tloop command line, parsed into a struct without side effects
 * (so that it can be tested on any host).
 */
#ifndef TLOOP_TOOLS_CLI_H
#define TLOOP_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

enum cli_cmd {
	CMD_HELP,
	CMD_VERSION,
	CMD_ATTACH,
	CMD_DETACH,
	CMD_LIST,
	CMD_STATUS,
	CMD_TRACK,
	CMD_WRITTEN,	/* tloop written (alias: tloop dirty) */
	CMD_CLEAR,
	CMD_SYNC,
	CMD_VERIFY,
	CMD_CONSUMER,	/* tloop consumer list|add|remove */
};

enum cli_consumer_op {
	CONSUMER_LIST,
	CONSUMER_ADD,
	CONSUMER_REMOVE,
};

struct cli {
	enum cli_cmd cmd;
	const char *help_cmd;	/* CMD_HELP: the command asked about, or NULL */
	int json;		/* --json */
	int noheadings;		/* list --noheadings */
	int bytes;		/* list/status --bytes: sizes in bytes */
	/* attach */
	const char *file;
	unsigned int add_flags;		/* TLOOP_FLAG_* */
	unsigned int block_size;
	uint64_t size_limit;
	const char *persist;		/* attach --persist SIDECAR */
	/* detach, status, track, written, clear, sync */
	int all;			/* detach --all */
	char **devs;			/* device arguments */
	int ndevs;
	/* track */
	int track_on;
	uint64_t mem_limit;
	/* written */
	int clear;
	int ranges;
	/* sync */
	const char *area2;
	unsigned int sync_flags;	/* TLOOP_SYNC_* */
	int progress;
	uint64_t max_io;
	unsigned int depth;		/* --queue-depth, 0: default */
	uint64_t max_gap;		/* --max-gap, 0: default (or none, see sync_flags) */
	unsigned int full_pct;		/* --full-at, 0: default */
	const char *state_dir;		/* --state-dir (NBD area2) */
	unsigned int timeout_ms;	/* --timeout (NBD area2), 0: default */
	const char *freeze;		/* --freeze MOUNTPOINT (with --consistent) */
	uint64_t snap_mem_limit;	/* --snap-mem-limit, 0: none */
	unsigned int every_ms;		/* --every: refresh again and again, 0: once */
	unsigned int count;		/* --count: that many refreshes, 0: until a signal */
	/* written, clear, sync, status: --consumer NAME (NULL: the default consumer) */
	const char *consumer;
	/* consumer */
	enum cli_consumer_op consumer_op;
	const char *consumer_name;	/* add, remove: the NAME operand */
	unsigned int via;		/* --via: enum tloop_sync_via */
};

/* Exit statuses. */
#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_DIFFER	3	/* verify: the copies differ */

/*
 * cli_parse() - parse @argc/@argv (argv[0] is the program).  Returns 0, or
 * EXIT_USAGE with a one-line explanation in @err.
 */
int cli_parse(int argc, char **argv, struct cli *c, char *err, size_t errlen);

/* cli_usage() - the usage text of @cmd (NULL: of the whole tool). */
const char *cli_usage(const char *cmd);

#endif /* TLOOP_TOOLS_CLI_H */
