# cdc_ext: PGXS build.  `make && make install`, then scripts/test.sh runs
# every test layer (unit, regression, isolation, TAP) against throwaway
# clusters.

MODULE_big = cdc_ext
# plugin -> log -> api, over the pure-C common layer (see ../shared/STYLE.md)
PLUGIN_OBJS = src/plugin/decode.o src/plugin/options.o src/plugin/relcache.o \
	src/plugin/column.o src/plugin/entry_json.o src/plugin/entry_jsonb.o \
	src/plugin/schema.o
LOG_OBJS = src/log/base.o src/log/shmem.o src/log/capture.o src/log/slot.o \
	src/log/retention.o src/log/sink.o src/log/backfill.o src/log/backfill_log.o src/log/ingest.o src/log/launcher.o \
	src/log/writer.o src/log/dropdb.o src/log/schema.o
API_OBJS = src/api/args.o src/api/consumer.o src/api/stream.o src/api/privileges.o \
	src/api/reshape.o src/api/withheld.o src/api/status.o src/api/horizon.o src/api/backfill.o \
	src/api/groups/group_state.o src/api/groups/group_lease.o \
	src/api/groups/group_frontier.o src/api/groups/group_ack.o \
	src/api/groups/group_inspect.o src/api/groups/group_admin.o
COMMON_OBJS = src/common/json.o src/common/glob.o src/common/optlist.o \
	src/common/lsn.o src/common/ops.o
OBJS = cdc_ext.o $(PLUGIN_OBJS) $(LOG_OBJS) $(API_OBJS) $(COMMON_OBJS)
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/common -I$(srcdir)/src/plugin \
	-I$(srcdir)/src/log -I$(srcdir)/src/api

EXTENSION = cdc_ext
# Released scripts are committed and never regenerated: cdc_ext--1.0.sql,
# cdc_ext--1.1.sql, cdc_ext--1.0--1.1.sql.  Only the version in development
# (1.2) is assembled, from the parts' SQL in data-flow order, so that each
# part keeps its SQL beside its C; its upgrade from 1.1 is written by hand
# in src/upgrade_1.1_1.2.sql (t/081_upgrade_1_2.pl compares the two).
DATA = cdc_ext--1.0.sql cdc_ext--1.1.sql cdc_ext--1.0--1.1.sql
SQL_PARTS = src/log/log.sql src/api/api.sql src/api/groups.sql \
	src/api/backfill.sql src/api/grants.sql
DATA_built = cdc_ext--1.2.sql cdc_ext--1.1--1.2.sql
EXTRA_CLEAN = $(DATA_built)
PGFILEDESC = "cdc_ext - change data capture for PostgreSQL"

# every sql/*.sql is a regression test, every specs/*.spec an isolation test
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-config=$(srcdir)/test/logical.conf
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --temp-config=$(srcdir)/test/logical.conf

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

cdc_ext--1.2.sql: src/install_head.sql $(SQL_PARTS)
	cat $^ > $@
cdc_ext--1.1--1.2.sql: src/upgrade_1.1_1.2.sql
	cat $^ > $@

# Pure-C unit tests (Check), built without the server headers.
PURE_SRCS = src/common/json.c src/common/glob.c src/common/optlist.c src/common/lsn.c \
	src/common/ops.c
UNIT_CFLAGS ?= -O1 -g -Wall -Wextra -Werror
.PHONY: unit
unit: test/unit/run_unit
	./test/unit/run_unit

test/unit/run_unit: $(PURE_SRCS) $(wildcard test/unit/*.c) $(wildcard src/common/cdc_*.h)
	$(CC) $(UNIT_CFLAGS) -Isrc/common -o $@ $(wildcard test/unit/*.c) $(PURE_SRCS) \
		$(shell pkg-config --cflags --libs check)

# The same suites under AddressSanitizer and UndefinedBehaviorSanitizer
# (clang if there is one, else $(CC)).  CK_FORK=no runs every test in the
# runner's own process, so that LeakSanitizer checks them all at exit and a
# sanitizer abort is not hidden as one test's "signal" by a forked child;
# -fno-sanitize-recover makes any UB report fatal.
UNIT_ASAN_CC ?= $(or $(shell command -v clang-14 || command -v clang),$(CC))
UNIT_ASAN_CFLAGS ?= -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror
.PHONY: unit-asan
unit-asan: test/unit/run_unit_asan
	CK_FORK=no ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./test/unit/run_unit_asan

test/unit/run_unit_asan: $(PURE_SRCS) $(wildcard test/unit/*.c) $(wildcard src/common/cdc_*.h)
	$(UNIT_ASAN_CC) $(UNIT_ASAN_CFLAGS) -Isrc/common -o $@ $(wildcard test/unit/*.c) \
		$(PURE_SRCS) $(shell pkg-config --cflags --libs check)

clean: clean-unit
.PHONY: clean-unit
clean-unit:
	rm -f test/unit/run_unit test/unit/run_unit_asan
	rm -rf test/fuzz/build

# cdc_relay (relay/, docs/relay.md): a program with its own Makefile (PGXS
# builds one module or one program per Makefile, and this one builds the
# extension).  Built when libnats is there (scripts/deps.sh installs it).
HAVE_LIBNATS := $(shell pkg-config --exists libnats 2>/dev/null && echo yes)
.PHONY: relay relay-install relay-clean
all: relay
install: relay-install
clean: relay-clean
relay:
ifeq ($(HAVE_LIBNATS),yes)
	$(MAKE) -C $(srcdir)/relay PG_CONFIG=$(PG_CONFIG)
else
	@echo "cdc_relay not built: libnats (libnats-dev) not found"
endif
relay-install: relay
ifeq ($(HAVE_LIBNATS),yes)
	$(MAKE) -C $(srcdir)/relay PG_CONFIG=$(PG_CONFIG) install
endif
relay-clean:
	$(MAKE) -C $(srcdir)/relay clean
