// SPDX-License-Identifier: GPL-2.0
/*
 * test-cli.c - host test of the tloop command line: every command's
 * options and operands, the usage errors (exit status 2) that must be
 * caught before anything touches a device, size parsing, device names and
 * the JSON writer's exact output (escaping, nesting).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "libtloop.h"
#include "util.h"

#include "tests/hostcheck.h"

/* parse() - split @line on spaces and run cli_parse() on it. */
static int parse(const char *line, struct cli *c, char *err, size_t errlen)
{
	static char buf[512];
	static char *argv[32];
	int argc = 0;
	char *tok, *save;

	snprintf(buf, sizeof(buf), "tloop %s", line);
	for (tok = strtok_r(buf, " ", &save); tok && argc < 31; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return cli_parse(argc, argv, c, err, errlen);
}

static void check_good(void)
{
	char err[256];
	struct cli c;

	CHECK(parse("attach a.img", &c, err, sizeof(err)) == 0 && c.cmd == CMD_ATTACH &&
	      !strcmp(c.file, "a.img") && c.add_flags == 0, "attach: %s", err);
	CHECK(parse("attach --read-only --block-size 4096 --size 1M --direct-io --track -P a.img",
		    &c, err, sizeof(err)) == 0 &&
	      c.add_flags == (TLOOP_FLAG_READ_ONLY | TLOOP_FLAG_DIRECT_IO | TLOOP_FLAG_TRACK |
			      TLOOP_FLAG_PARTSCAN) &&
	      c.block_size == 4096 && c.size_limit == 1048576, "attach with options: %s", err);
	CHECK(parse("attach a.img -r", &c, err, sizeof(err)) == 0 &&
	      c.add_flags == TLOOP_FLAG_READ_ONLY, "options after the operand: %s", err);
	CHECK(parse("detach /dev/tloop0 tloop1", &c, err, sizeof(err)) == 0 && c.ndevs == 2 &&
	      !strcmp(c.devs[1], "tloop1"), "detach two: %s", err);
	CHECK(parse("detach --all", &c, err, sizeof(err)) == 0 && c.all && !c.ndevs,
	      "detach --all: %s", err);
	CHECK(parse("list --json -n -b", &c, err, sizeof(err)) == 0 && c.cmd == CMD_LIST &&
	      c.json && c.noheadings && c.bytes, "list: %s", err);
	CHECK(parse("status --json tloop0", &c, err, sizeof(err)) == 0 && c.json &&
	      c.ndevs == 1, "status: %s", err);
	CHECK(parse("track on --mem-limit 64K tloop0", &c, err, sizeof(err)) == 0 &&
	      c.track_on && c.mem_limit == 65536 && !strcmp(c.devs[0], "tloop0"), "track on: %s",
	      err);
	CHECK(parse("track off tloop0", &c, err, sizeof(err)) == 0 && !c.track_on && c.ndevs == 1,
	      "track off: %s", err);
	CHECK(parse("written tloop0 --clear --ranges --json", &c, err, sizeof(err)) == 0 &&
	      c.cmd == CMD_WRITTEN && c.clear && c.ranges && c.json && c.ndevs == 1,
	      "written: %s", err);
	CHECK(parse("written --consumer backup tloop0", &c, err, sizeof(err)) == 0 &&
	      c.cmd == CMD_WRITTEN && c.consumer && !strcmp(c.consumer, "backup"),
	      "written --consumer: %s", err);
	CHECK(parse("clear --json --consumer b tloop0", &c, err, sizeof(err)) == 0 &&
	      c.cmd == CMD_CLEAR && c.json && !strcmp(c.consumer, "b"), "clear --consumer: %s", err);
	CHECK(parse("sync --consumer b tloop0 a2", &c, err, sizeof(err)) == 0 &&
	      c.cmd == CMD_SYNC && !strcmp(c.consumer, "b") && !strcmp(c.area2, "a2"),
	      "sync --consumer: %s", err);
	CHECK(parse("consumer list --json tloop0", &c, err, sizeof(err)) == 0 &&
	      c.cmd == CMD_CONSUMER && c.consumer_op == CONSUMER_LIST && c.json &&
	      !strcmp(c.devs[0], "tloop0"), "consumer list: %s", err);
	CHECK(parse("consumer add --mem-limit 1M tloop0 backup", &c, err, sizeof(err)) == 0 &&
	      c.consumer_op == CONSUMER_ADD && c.mem_limit == 1048576 &&
	      !strcmp(c.devs[0], "tloop0") && !strcmp(c.consumer_name, "backup"),
	      "consumer add: %s", err);
	CHECK(parse("consumer remove tloop0 backup", &c, err, sizeof(err)) == 0 &&
	      c.consumer_op == CONSUMER_REMOVE && !strcmp(c.consumer_name, "backup"),
	      "consumer remove: %s", err);
	/* dirty: the first name of written, kept as an alias with the same options. */
	CHECK(parse("dirty tloop0 --clear --ranges --json", &c, err, sizeof(err)) == 0 &&
	      c.cmd == CMD_WRITTEN && c.clear && c.ranges && c.json && c.ndevs == 1,
	      "dirty: %s", err);
	CHECK(parse("help written", &c, err, sizeof(err)) == 0 && c.cmd == CMD_HELP &&
	      !strcmp(c.help_cmd, "written") && strstr(cli_usage("written"), "tloop written ["),
	      "help written: %s", err);
	CHECK(parse("dirty -h", &c, err, sizeof(err)) == 0 && c.cmd == CMD_HELP &&
	      strstr(cli_usage(c.help_cmd), "tloop help written"),
	      "dirty -h names written: %s", err);
	CHECK(strstr(cli_usage(NULL), " tloop written ") && strstr(cli_usage(NULL), "tloop dirty"),
	      "the usage lists written and its alias dirty");
	CHECK(parse("clear tloop0", &c, err, sizeof(err)) == 0 && c.cmd == CMD_CLEAR, "clear: %s",
	      err);
	CHECK(parse("sync --fsync --progress --create --resize --full --buffered --max-io 4M "
		    "--json tloop0 area2.img", &c, err, sizeof(err)) == 0 &&
	      c.sync_flags == (TLOOP_SYNC_FSYNC | TLOOP_SYNC_CREATE | TLOOP_SYNC_RESIZE |
			       TLOOP_SYNC_FULL | TLOOP_SYNC_BUFFERED) &&
	      c.progress && c.json && c.max_io == 4194304 && !strcmp(c.area2, "area2.img") &&
	      c.ndevs == 1 && !strcmp(c.devs[0], "tloop0"), "sync: %s", err);
	CHECK(parse("sync --unsafe-no-fsync tloop0 area2.img", &c, err, sizeof(err)) == 0 &&
	      c.sync_flags == TLOOP_SYNC_UNSAFE_NO_FSYNC, "sync --unsafe-no-fsync: %s", err);
	CHECK(parse("sync --queue-depth 64 --max-gap 16K --full-at 30 tloop0 a", &c, err,
		    sizeof(err)) == 0 && c.depth == 64 && c.max_gap == 16384 && c.full_pct == 30 &&
	      c.sync_flags == 0, "sync --queue-depth --max-gap --full-at: %s", err);
	CHECK(parse("sync --max-gap 0 --full-at 101 tloop0 a", &c, err, sizeof(err)) == 0 &&
	      c.sync_flags == (TLOOP_SYNC_NO_GAPS | TLOOP_SYNC_NO_AUTO_FULL),
	      "sync --max-gap 0 --full-at 101: %s", err);
	CHECK(parse("sync --max-gap 0 --max-gap 8K --full-at 101 --full-at 50 tloop0 a", &c, err,
		    sizeof(err)) == 0 && c.sync_flags == 0 && c.max_gap == 8192 &&
	      c.full_pct == 50, "the last --max-gap and --full-at win: %s", err);
	CHECK(parse("sync --every 0.5 --count 3 tloop0 a", &c, err, sizeof(err)) == 0 &&
	      c.every_ms == 500 && c.count == 3, "sync --every 0.5 --count 3: %s", err);
	CHECK(parse("sync --every 60 tloop0 a", &c, err, sizeof(err)) == 0 &&
	      c.every_ms == 60000 && c.count == 0, "sync --every 60: %s", err);
	CHECK(parse("dirty --unsafe-no-fsync tloop0", &c, err, sizeof(err)) == EXIT_USAGE,
	      "--unsafe-no-fsync belongs to sync only");
	CHECK(parse("sync -- tloop0 -area2", &c, err, sizeof(err)) == 0 &&
	      !strcmp(c.area2, "-area2"), "sync with --: %s", err);
	CHECK(parse("help", &c, err, sizeof(err)) == 0 && c.cmd == CMD_HELP && !c.help_cmd,
	      "help: %s", err);
	CHECK(parse("help sync", &c, err, sizeof(err)) == 0 && !strcmp(c.help_cmd, "sync"),
	      "help sync: %s", err);
	CHECK(parse("sync --help", &c, err, sizeof(err)) == 0 && c.cmd == CMD_HELP &&
	      !strcmp(c.help_cmd, "sync"), "sync --help: %s", err);
	CHECK(parse("--version", &c, err, sizeof(err)) == 0 && c.cmd == CMD_VERSION,
	      "--version: %s", err);
}

static void check_bad(void)
{
	static const char *const bad[] = {
		"",
		"frobnicate",
		"--frobnicate",
		"attach",
		"attach a b",
		"attach --block-size 1000 a",
		"attach --block-size x a",
		"attach --size 0 a",
		"attach --size 99999999999999999999 a",
		"attach --size",
		"attach --json a",
		"attach --clear a",
		"detach",
		"detach --all tloop0",
		"list extra",
		"list --clear",
		"status",
		"status a b",
		"track",
		"track on",
		"track maybe tloop0",
		"track off --mem-limit 1M tloop0",
		"dirty",
		"dirty --fsync tloop0",
		"dirty -x tloop0",
		"written",
		"written a b",
		"written --fsync tloop0",
		"written --all tloop0",
		"clear",
		"clear --clear tloop0",
		"clear --consumer",
		"consumer",
		"consumer tloop0",
		"consumer list",
		"consumer list tloop0 x",
		"consumer add tloop0",
		"consumer add tloop0 a b",
		"consumer remove tloop0",
		"consumer rename tloop0 a",
		"consumer remove --mem-limit 1M tloop0 a",
		"consumer list --consumer a tloop0",
		"track on --consumer a tloop0",
		"attach --consumer a f",
		"sync tloop0",
		"sync tloop0 a b",
		"sync --max-io 1 tloop0 a",
		"sync --max-io 2G tloop0 a",
		"sync --bogus tloop0 a",
		"sync --queue-depth 0 tloop0 a",
		"sync --queue-depth 257 tloop0 a",
		"sync --max-gap 2G tloop0 a",
		"sync --full-at 0 tloop0 a",
		"sync --full-at 102 tloop0 a",
		"sync --every 0 tloop0 a",
		"sync --every abc tloop0 a",
		"sync --every 86401 tloop0 a",
		"sync --count 3 tloop0 a",
		"sync --every 1 --count 0 tloop0 a",
		"sync --every 1 --progress tloop0 a",
		"written --every 1 tloop0",
		"written --queue-depth 4 tloop0",
		"help nosuch",
		"--version extra",
	};
	char err[256];
	struct cli c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse(bad[i], &c, err, sizeof(err));

		CHECK(ret == EXIT_USAGE && err[0], "'tloop %s' gave %d (%s), expected usage error",
		      bad[i], ret, err);
	}
	parse("dirty --bogus tloop0", &c, err, sizeof(err));
	CHECK(strstr(err, "--bogus") != NULL, "message does not name the option: %s", err);
	parse("frobnicate", &c, err, sizeof(err));
	CHECK(strstr(err, "frobnicate") != NULL, "message does not name the command: %s", err);
}

static void check_sizes(void)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t v;
	} t[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "4K", 0, 4096 }, { "4k", 0, 4096 },
		{ "4KiB", 0, 4096 }, { "4KB", 0, 4000 }, { "1M", 0, 1048576 },
		{ "2G", 0, 2147483648ULL }, { "1T", 0, 1099511627776ULL },
		{ "16E", -ERANGE, 0 }, { "15E", 0, 15ULL << 60 },
		{ "18446744073709551615", 0, UINT64_MAX }, { "18446744073709551616", -ERANGE, 0 },
		{ "", -EINVAL, 0 }, { "K", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "1X", -EINVAL, 0 },
		{ "1Kb", -EINVAL, 0 }, { "1KiBx", -EINVAL, 0 }, { " 1", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 0;
		int ret = parse_size(t[i].s, &v);

		CHECK(ret == t[i].ret && (ret || v == t[i].v),
		      "parse_size('%s') = %d/%" PRIu64 ", expected %d/%" PRIu64, t[i].s, ret, v,
		      t[i].ret, t[i].v);
	}
}

static void check_format(void)
{
	char buf[32];

	CHECK(!strcmp(format_size(512, buf, sizeof(buf)), "512B"), "512 -> %s", buf);
	CHECK(!strcmp(format_size(4096, buf, sizeof(buf)), "4K"), "4096 -> %s", buf);
	CHECK(!strcmp(format_size(67108864, buf, sizeof(buf)), "64M"), "64M -> %s", buf);
	CHECK(!strcmp(format_size(1536ULL << 20, buf, sizeof(buf)), "1.5G"), "1.5G -> %s", buf);
	CHECK(!strcmp(format_size(UINT64_MAX, buf, sizeof(buf)), "16E"), "max -> %s", buf);

	CHECK(dev_path("tloop3", buf, sizeof(buf)) == 0 && !strcmp(buf, "/dev/tloop3"),
	      "tloop3 -> %s", buf);
	CHECK(dev_path("/dev/tloop3", buf, sizeof(buf)) == 0 && !strcmp(buf, "/dev/tloop3"),
	      "/dev/tloop3 -> %s", buf);
	CHECK(dev_path("tloopx", buf, sizeof(buf)) == 0 && !strcmp(buf, "tloopx"),
	      "tloopx -> %s", buf);
	CHECK(dev_path("tloop", buf, sizeof(buf)) == 0 && !strcmp(buf, "tloop"), "tloop -> %s",
	      buf);
	CHECK(dev_path("./tloop3", buf, sizeof(buf)) == 0 && !strcmp(buf, "./tloop3"),
	      "./tloop3 -> %s", buf);
	CHECK(dev_path("tloop3", buf, 5) == -ENAMETOOLONG, "short buffer");
}

static void check_json(void)
{
	const char *expect =
		"{\n"
		"  \"s\": \"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\\ufffd\\ufffd\",\n"
		"  \"n\": 18446744073709551615,\n"
		"  \"t\": true,\n"
		"  \"f\": false,\n"
		"  \"flat\": [1, 2, 3],\n"
		"  \"empty\": [],\n"
		"  \"objs\": [\n"
		"    {\n"
		"      \"x\": 0.500000\n"
		"    },\n"
		"    {}\n"
		"  ]\n"
		"}\n";
	struct json j;
	size_t len;
	char *out;
	FILE *f;

	f = open_memstream(&out, &len);
	json_init(&j, f);
	json_obj_begin(&j, NULL);
	json_str(&j, "s", "a\"b\\c\n\x01\xc3\xa9\xc3\xff");
	json_u64(&j, "n", UINT64_MAX);
	json_bool(&j, "t", 1);
	json_bool(&j, "f", 0);
	json_arr_begin(&j, "flat", 1);
	json_u64(&j, NULL, 1);
	json_u64(&j, NULL, 2);
	json_u64(&j, NULL, 3);
	json_arr_end(&j);
	json_arr_begin(&j, "empty", 1);
	json_arr_end(&j);
	json_arr_begin(&j, "objs", 0);
	json_obj_begin(&j, NULL);
	json_double(&j, "x", 0.5);
	json_obj_end(&j);
	json_obj_begin(&j, NULL);
	json_obj_end(&j);
	json_arr_end(&j);
	json_obj_end(&j);
	fclose(f);
	CHECK(!strcmp(out, expect), "JSON output:\n%s\nexpected:\n%s", out, expect);
	free(out);
}

int main(void)
{
	check_good();
	check_bad();
	check_sizes();
	check_format();
	check_json();
	if (failures) {
		printf("test-cli: %d failures\n", failures);
		return 1;
	}
	printf("test-cli: ok\n");
	return 0;
}
