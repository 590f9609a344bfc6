# amitools: make deps, make, make check, make bench, make demo, make install
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

CFLAGS ?= -O2 -g
BSD_CFLAGS := $(shell pkg-config --cflags libbsd-overlay)
BSD_LIBS := $(shell pkg-config --libs libbsd-overlay)
PCRE_CFLAGS := $(shell pkg-config --cflags libpcre2-8)
PCRE_LIBS := $(shell pkg-config --libs libpcre2-8)
# the MySQL client: MariaDB Connector/C (Debian libmariadb-dev, or the
# default-libmysqlclient-dev that pulls it in) or MySQL's own; its flags
# from pkg-config, or else from mariadb_config or mysql_config
MYSQL_PC := $(firstword $(foreach p,libmariadb mysqlclient,$(shell pkg-config --exists $(p) && echo $(p))))
MYSQL_CONFIG := $(firstword $(shell command -v mariadb_config mysql_config 2>/dev/null))
mysql = $(shell $(if $(MYSQL_PC),pkg-config --$(1) $(MYSQL_PC),$(if $(MYSQL_CONFIG),$(MYSQL_CONFIG) --$(1),true)))
MYSQL_CFLAGS := $(call mysql,cflags)
MYSQL_LIBS := $(call mysql,libs)
MQTT_CFLAGS := $(shell pkg-config --cflags libmosquitto)
MQTT_LIBS := $(shell pkg-config --libs libmosquitto)
TLS_CFLAGS := $(shell pkg-config --cflags libtls)
# libtls is not linked: lib/tls.c opens it at the first TLS connection,
# by the soname of the libtls this build compiles against
TLS_SONAME := $(shell objdump -p $$(pkg-config --variable=libdir libtls)/libtls.so 2>/dev/null | sed -n 's/^ *SONAME *//p')
# the project's flags; the build adds CFLAGS, the fuzzers their own
AMI_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Ilib $(BSD_CFLAGS) $(PCRE_CFLAGS) $(TLS_CFLAGS)
ALL_CFLAGS = $(AMI_CFLAGS) $(CFLAGS)
LIBS = -ldl -lmd $(BSD_LIBS) -lpthread

TOOLS = amicat amiaction dndparse dndctl mwinotify peerlist statemerge amimqtt
PCRE_TOOLS = amicat dndparse
MYSQL_TOOLS = dndparse mwinotify peerlist
# only the MQTT bridge links libmosquitto (Debian libmosquitto-dev)
MQTT_TOOLS = amimqtt
# what talks to MySQL stays out of libami.a: only MYSQL_TOOLS link it
DBOBJ = lib/db.o lib/watchers.o
LIBOBJ = $(patsubst %.c,%.o,$(filter-out $(DBOBJ:.o=.c),$(wildcard lib/*.c)))
UNIT = $(patsubst %.c,%,$(wildcard tests/unit/*.c))
TESTBIN = tests/amisim $(UNIT)

all: $(TOOLS) $(TESTBIN)

%.o: %.c lib/ami.h
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(DBOBJ): ALL_CFLAGS += $(MYSQL_CFLAGS)
lib/tls.o: ALL_CFLAGS += -DAMI_TLS_SONAME='"$(TLS_SONAME)"'
lib/tls.o: | tls-soname
tls-soname:
	@test -n "$(TLS_SONAME)" || { echo "no libtls.so (libtls-dev) to take the soname of" >&2; exit 1; }
cmd/amimqtt.o: ALL_CFLAGS += $(MQTT_CFLAGS)
$(DBOBJ): | mysql-client
mysql-client:
	@test -n "$(MYSQL_LIBS)" || { echo "no MySQL client library (for $(MYSQL_TOOLS)):" \
	    "apt-get install libmariadb-dev, or default-libmysqlclient-dev" >&2; exit 1; }

lib/libami.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

# what a tool links besides libami.a
$(PCRE_TOOLS): TOOL_LIBS += $(PCRE_LIBS)
$(MYSQL_TOOLS): TOOL_LIBS += $(MYSQL_LIBS)
$(MQTT_TOOLS): TOOL_LIBS += $(MQTT_LIBS)
$(MYSQL_TOOLS): $(DBOBJ)
$(TOOLS): %: cmd/%.o lib/libami.a
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) lib/libami.a $(TOOL_LIBS) $(LIBS)

# the AMI simulator: tests/amisim.c and its parts, one concern a file
AMISIM = $(patsubst %.c,%.o,$(wildcard tests/amisim*.c))
$(AMISIM): tests/amisim.h
tests/amisim: $(AMISIM) lib/libami.a
	$(CC) $(LDFLAGS) -o $@ $(AMISIM) lib/libami.a $(LIBS)

$(UNIT): %: %.o lib/libami.a
	$(CC) $(LDFLAGS) -o $@ $@.o lib/libami.a $(PCRE_LIBS) $(LIBS)

# the Debian packages of scripts/deps (apt-get through sudo unless root)
deps:
	scripts/deps

# Debian's rsyslogd unpacked, not installed (it conflicts with syslog-ng):
# tests/0225-dnd-rsyslog.t runs it
RSYSLOGD = tests/rsyslogd/usr/sbin/rsyslogd
$(RSYSLOGD):
	scripts/deps rsyslog

check: all $(RSYSLOGD)
	prove tests/

# the tool tests again with every tool under valgrind (see tests/lib.sh);
# any error or leak a process logged fails it
VALGRIND_OUT = tests/valgrind.out
check-valgrind: all $(RSYSLOGD)
	rm -rf $(VALGRIND_OUT) && mkdir -p $(VALGRIND_OUT)
	AMITOOLS_VALGRIND=$(CURDIR)/$(VALGRIND_OUT) prove tests/
	@bad=$$(find $(VALGRIND_OUT) -type f -size +0 | sort); \
	n=$$(ls $(VALGRIND_OUT) | wc -l); \
	if [ -n "$$bad" ]; then head -60 $$bad; echo "valgrind: errors in $$(echo $$bad | wc -w) of $$n processes"; exit 1; fi; \
	echo "valgrind: $$n processes, no errors, no leaks"

bench: all
	bench/run

# libFuzzer targets in tests/fuzz, each run FUZZ_SECONDS from seeds that
# tests/fuzz/seeds makes of the fixtures (once a make: fuzz-seeds), with
# its longest input (FUZZ_LEN_TARGET, else 1024) and its dictionary
# (tests/fuzz/TARGET.dict, else ami.dict); a crash leaves its input in
# tests/fuzz/out.  make fuzz-TARGET runs one, going on from the corpus
# the last run left there; make -j fuzz runs them side by side.
FUZZ = parse decode tmpl conf dndmatch sip
FUZZ_SECONDS = 60
FUZZ_RUN = -max_total_time=$(FUZZ_SECONDS)
FUZZ_CC = clang
FUZZ_CFLAGS = $(AMI_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined
FUZZ_OUT = tests/fuzz/out
FUZZ_LEN_tmpl = 256
FUZZ_LEN_conf = 2048
FUZZ_LEN_dndmatch = 512
fuzz_dict = $(notdir $(firstword $(wildcard tests/fuzz/$(1).dict) tests/fuzz/ami.dict))
fuzz: all
	rm -rf $(FUZZ_OUT)
	$(MAKE) --no-print-directory $(FUZZ:%=fuzz-%)

fuzz-seeds: all
	tests/fuzz/seeds $(FUZZ_OUT)

fuzz-%: all fuzz-seeds
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $(FUZZ_OUT)/$* tests/fuzz/$*.c \
	    $(LIBOBJ:.o=.c) $(PCRE_LIBS) $(LIBS)
	mkdir -p $(FUZZ_OUT)/corpus-$*
	cd $(FUZZ_OUT) && ./$* -max_len=$(or $(FUZZ_LEN_$*),1024) \
	    -dict=../$(call fuzz_dict,$*) $(FUZZ_RUN) -print_final_stats=1 \
	    corpus-$* seed-$* 2>$*.log || { tail -40 $*.log; exit 1; }
	@grep -E '^stat::(number_of_executed_units|peak_rss)' $(FUZZ_OUT)/$*.log | sed 's/^/$*: /'
	@grep ' cov: ' $(FUZZ_OUT)/$*.log | tail -1 | \
	    sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*(exec\/s: [0-9]+).*/$*: \1 \2/'

demo: all
	./demo.sh

install: $(TOOLS)
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7

clean:
	rm -rf $(VALGRIND_OUT)
	rm -f $(TOOLS) $(TESTBIN) lib/*.o lib/libami.a cmd/*.o tests/*.o tests/unit/*.o

.PHONY: all check check-valgrind bench demo deps fuzz fuzz-seeds install clean mysql-client tls-soname
