# agentkavach build. `make` puts every artifact into build/.
# Sources are picked up by folder, so a new .c file needs no edit here:
#   core/*.c pricing/*.c      -> build/libakcore.a   (shared by engine, collector, tools, tests)
#   shim/stub*.c              -> build/libakshim.so   (the preloaded stub: libc only)
#   engine/*.c                -> build/libakengine.so (the metering engine, dlopen'ed by the stub)
#   collector/*.c             -> build/akcollector
#   tools/akctl*.c            -> build/akctl ; tools/akrun.c -> build/akrun
#   egress/*.c                -> build/akproxy        (links the engine objects: one engine)
#   tests/unit/test_*.c       -> build/tests/test_*   (one cmocka binary each)

PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib/agentkavach
BINDIR  ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc/agentkavach
UNITDIR ?= /etc/systemd/system
DATADIR ?= $(PREFIX)/share/agentkavach
STATEDIR ?= /var/lib/agentkavach
LOGDIR  ?= /var/log/agentkavach

CC      ?= cc
B       := build
PKGS    := yaml-0.1 lmdb libcjson zlib libbrotlidec libzstd libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser
CURL_LIBS  := $(shell pkg-config --libs libcurl 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
EVENT_LIBS  := $(shell pkg-config --libs libevent libevent_openssl 2>/dev/null) -lssl

WARN    := -Wall -Wextra -Wno-unused-parameter
ifeq ($(CI),true)
WARN    += -Werror
endif
OPT     ?= -O2 -g
CFLAGS  += -std=gnu11 $(OPT) $(WARN) -fPIC -D_GNU_SOURCE -I. $(PKG_CFLAGS) \
           -DAK_LIBDIR=\"$(LIBDIR)\" -DAK_SYSCONFDIR=\"$(SYSCONFDIR)\" -DAK_DATADIR=\"$(DATADIR)\"
LDFLAGS += -Wl,-z,noexecstack -Wl,-z,relro -Wl,-z,now

# The stub is preloaded into programs that are not built with sanitizers, so it never is;
# nor is akrun, which runs with a preload already set when it is nested.
STUB_CFLAGS  := $(CFLAGS) -fvisibility=hidden -fno-optimize-sibling-calls
STUB_LDFLAGS := $(LDFLAGS)
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS  += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
endif

CORE_SRC    := $(wildcard core/*.c pricing/*.c)
STUB_SRC    := $(wildcard shim/stub*.c)
ENGINE_SRC  := $(wildcard engine/*.c)
COLL_SRC    := $(wildcard collector/*.c)
AKCTL_SRC   := $(wildcard tools/akctl*.c)
EGRESS_SRC  := $(wildcard egress/*.c)
TEST_SRC    := $(wildcard tests/unit/test_*.c)
TEST_HELP   := $(wildcard tests/unit/helper_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
CORE_OBJ    := $(call obj,$(CORE_SRC))
STUB_OBJ    := $(call obj,$(STUB_SRC))
ENGINE_OBJ  := $(call obj,$(ENGINE_SRC))
COLL_OBJ    := $(call obj,$(COLL_SRC))
AKCTL_OBJ   := $(call obj,$(AKCTL_SRC))
EGRESS_OBJ  := $(call obj,$(EGRESS_SRC))
TEST_BINS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRC))
TEST_HOBJ   := $(call obj,$(TEST_HELP))

ALL := $(B)/libakcore.a $(B)/libakshim.so $(B)/libakengine.so $(B)/akctl $(B)/akrun $(B)/akproxy
ifneq ($(COLL_SRC),)
ALL += $(B)/akcollector
endif

.PHONY: all deps test unit integration bench install uninstall clean demo
.SECONDARY:
all: $(ALL)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The stub: libc (and libdl) only, hidden visibility, exported hooks listed in the version script.
AKRUN_OBJ := $(B)/obj/tools/akrun.o $(B)/obj/tools/akrun_proxy.o
$(STUB_OBJ) $(AKRUN_OBJ): $(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(STUB_CFLAGS) $(STUB_EXTRA) -MMD -MP -c $< -o $@
# ...except the dlopen wrapper, which must end in a tail call (see shim/stub_dlopen.c)
$(B)/obj/shim/stub_dlopen.o: STUB_EXTRA := -foptimize-sibling-calls
$(B)/libakshim.so: $(STUB_OBJ) shim/stub.map
	$(CC) -shared -o $@ $(STUB_OBJ) $(STUB_LDFLAGS) -Wl,--no-undefined -Wl,--version-script=shim/stub.map -ldl -lpthread

$(B)/libakcore.a: $(CORE_OBJ)
	@mkdir -p $(B)
	rm -f $@ && ar rcs $@ $^

$(B)/libakengine.a: $(ENGINE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libakengine.so: $(ENGINE_OBJ) $(B)/libakcore.a
	$(CC) -shared -o $@ $(ENGINE_OBJ) $(B)/libakcore.a $(LDFLAGS) -Wl,--no-undefined $(PKG_LIBS) -lpthread -lm

$(B)/akcollector: $(COLL_OBJ) $(B)/libakcore.a
	$(CC) -o $@ $(COLL_OBJ) $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) $(CURL_LIBS) -lpthread -lm

$(B)/akproxy: $(EGRESS_OBJ) $(B)/libakengine.a $(B)/libakcore.a
	$(CC) -o $@ $(EGRESS_OBJ) $(B)/libakengine.a $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) $(EVENT_LIBS) -lpthread -lm

$(B)/akctl: $(AKCTL_OBJ) $(B)/libakcore.a
	$(CC) -o $@ $(AKCTL_OBJ) $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) -lpthread -lm

$(B)/akrun: $(AKRUN_OBJ)
	$(CC) -o $@ $^ $(STUB_LDFLAGS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(TEST_HOBJ) $(B)/libakengine.a $(B)/libakcore.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TEST_HOBJ) $(B)/libakengine.a $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) $(CMOCKA_LIBS) -lpthread -lm

deps:
	@sh mk/deps.sh

test: deps
	$(MAKE) all $(TEST_BINS)
	$(MAKE) unit
	$(MAKE) integration

unit: all $(TEST_BINS)
	@sh tests/run-unit.sh $(TEST_BINS)

integration: all
	@sh tests/integration/run.sh

bench: deps all
	@sh bench/run.sh

demo: deps all
	@sh tools/demo.sh

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)
	install -m 0755 $(B)/libakshim.so $(B)/libakengine.so $(DESTDIR)$(LIBDIR)/
	# the shared ledger: every user that runs agents writes it (see core/ledger.c)
	install -d -m 1777 $(DESTDIR)$(STATEDIR)
	install -d -m 0755 $(DESTDIR)$(LOGDIR)
	install -m 0755 $(B)/akctl $(B)/akrun $(B)/akproxy $(DESTDIR)$(BINDIR)/
	if [ -f $(B)/akcollector ]; then install -m 0755 $(B)/akcollector $(DESTDIR)$(BINDIR)/; fi
	install -m 0644 pricing/prices.yaml $(DESTDIR)$(DATADIR)/prices.yaml
	install -m 0644 agentkavach.yaml.example $(DESTDIR)$(SYSCONFDIR)/agentkavach.yaml.example
	[ -f $(DESTDIR)$(SYSCONFDIR)/agentkavach.yaml ] || install -m 0644 dist/agentkavach.yaml $(DESTDIR)$(SYSCONFDIR)/agentkavach.yaml
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/akcollector.service.in > $(DESTDIR)$(UNITDIR)/akcollector.service
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/akproxy.service.in > $(DESTDIR)$(UNITDIR)/akproxy.service

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libakshim.so $(DESTDIR)$(LIBDIR)/libakengine.so
	rm -f $(DESTDIR)$(BINDIR)/akctl $(DESTDIR)$(BINDIR)/akrun $(DESTDIR)$(BINDIR)/akcollector $(DESTDIR)$(BINDIR)/akproxy
	rm -f $(DESTDIR)$(UNITDIR)/akcollector.service $(DESTDIR)$(UNITDIR)/akproxy.service $(DESTDIR)$(DATADIR)/prices.yaml

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
