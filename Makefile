# amitools: make, make check, make bench, make demo, make install
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

CFLAGS ?= -O2 -g
BSD_CFLAGS := $(shell pkg-config --cflags libbsd-overlay)
BSD_LIBS := $(shell pkg-config --libs libbsd-overlay)
PCRE_CFLAGS := $(shell pkg-config --cflags libpcre2-8)
PCRE_LIBS := $(shell pkg-config --libs libpcre2-8)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Ilib $(BSD_CFLAGS) $(PCRE_CFLAGS) $(CFLAGS)
LIBS = -lmd $(BSD_LIBS) -lpthread
MYSQL_CONFIG := $(shell command -v mariadb_config || command -v mysql_config)
MYSQL_CFLAGS := $(shell $(MYSQL_CONFIG) --cflags)
MYSQL_LIBS := $(shell $(MYSQL_CONFIG) --libs)

TOOLS = amicat amiaction mwinotify
PCRE_TOOLS = amicat
MYSQL_TOOLS = mwinotify
LIBOBJ = $(patsubst %.c,%.o,$(wildcard lib/*.c))
UNIT = $(patsubst %.c,%,$(wildcard tests/unit/*.c))
TESTBIN = tests/amisim $(UNIT)

all: $(TOOLS) $(TESTBIN)

%.o: %.c lib/ami.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

lib/watchers.o: ALL_CFLAGS += $(MYSQL_CFLAGS)

lib/libami.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(TOOLS): %: cmd/%.o lib/libami.a
	$(CC) $(LDFLAGS) -o $@ cmd/$@.o lib/libami.a $(if $(filter $@,$(PCRE_TOOLS)),$(PCRE_LIBS)) \
	    $(if $(filter $@,$(MYSQL_TOOLS)),$(MYSQL_LIBS)) $(LIBS)

tests/amisim: tests/amisim.o lib/libami.a
	$(CC) $(LDFLAGS) -o $@ tests/amisim.o lib/libami.a $(LIBS)

$(UNIT): %: %.o lib/libami.a
	$(CC) $(LDFLAGS) -o $@ $@.o lib/libami.a $(PCRE_LIBS) $(LIBS)

check: all
	prove tests/

bench: all
	bench/run

demo: all
	./demo.sh

install: $(TOOLS)
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7

clean:
	rm -f $(TOOLS) $(TESTBIN) lib/*.o lib/libami.a cmd/*.o tests/*.o tests/unit/*.o

.PHONY: all check bench demo install clean
