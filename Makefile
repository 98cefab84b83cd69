# agentkavach build. `make` puts every artifact into build/.
# Sources are picked up by folder, so a new .c file needs no edit here:
#   core/*.c pricing/*.c      -> build/libakcore.a   (shared by engine, collector, tools, tests)
#   pricing/prices.yaml       -> build/gen/prices_table.c (the compiled-in price table, written
#                                by build/prices_gen from tools/prices_gen.c) -> build/libakcore.a
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
AK_GROUP ?= agentkavach
LOGDIR  ?= /var/log/agentkavach

CC      ?= cc
B       := build
PKGS    := yaml-0.1 lmdb libcjson zlib libbrotlidec libzstd libcrypto libnghttp2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser
CURL_LIBS  := $(shell pkg-config --libs libcurl 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
REDIS_LIBS := $(shell pkg-config --libs hiredis 2>/dev/null)
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
PRICES_GEN  := $(B)/prices_gen
PRICES_C    := $(B)/gen/prices_table.c
PRICES_OBJ  := $(B)/obj/gen/prices_table.o
CORE_OBJ    := $(call obj,$(CORE_SRC)) $(PRICES_OBJ)
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

# The compiled-in price table: prices.yaml read by the same loader at build time.
$(PRICES_GEN): $(B)/obj/tools/prices_gen.o $(B)/obj/pricing/pricing.o $(B)/obj/core/ak.o
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread -lm
$(PRICES_C): pricing/prices.yaml $(PRICES_GEN)
	@mkdir -p $(dir $@)
	$(PRICES_GEN) pricing/prices.yaml $@
$(PRICES_OBJ): $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libakcore.a: $(CORE_OBJ)
	@mkdir -p $(B)
	rm -f $@ && ar rcs $@ $^

$(B)/libakengine.a: $(ENGINE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libakengine.so: $(ENGINE_OBJ) $(B)/libakcore.a
	$(CC) -shared -o $@ $(ENGINE_OBJ) $(B)/libakcore.a $(LDFLAGS) -Wl,--no-undefined $(PKG_LIBS) -lpthread -lm

$(B)/akcollector: $(COLL_OBJ) $(B)/libakcore.a
	$(CC) -o $@ $(COLL_OBJ) $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) $(CURL_LIBS) $(MHD_LIBS) $(REDIS_LIBS) -lpthread -lm

$(B)/akproxy: $(EGRESS_OBJ) $(B)/libakengine.a $(B)/libakcore.a
	$(CC) -o $@ $(EGRESS_OBJ) $(B)/libakengine.a $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) $(EVENT_LIBS) -lpthread -lm

$(B)/akctl: $(AKCTL_OBJ) $(B)/libakcore.a
	$(CC) -o $@ $(AKCTL_OBJ) $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) -lpthread -lm

$(B)/akrun: $(AKRUN_OBJ)
	$(CC) -o $@ $^ $(STUB_LDFLAGS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(TEST_HOBJ) $(B)/libakengine.a $(B)/libakcore.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TEST_HOBJ) $(B)/libakengine.a $(B)/libakcore.a $(LDFLAGS) $(PKG_LIBS) $(CMOCKA_LIBS) -lpthread -lm

# libFuzzer targets (tests/fuzz/fuzz_*.c): core and engine rebuilt with clang, coverage,
# ASan and UBSan in build/fuzz. `make fuzz FUZZ_SECONDS=N` runs each target N seconds,
# two at a time, from the seed corpora in tests/fuzz/corpus (see tests/fuzz/run.sh).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FB           := $(B)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. $(PKG_CFLAGS) $(FUZZ_SAN) \
                -DAK_LIBDIR=\"$(LIBDIR)\" -DAK_SYSCONFDIR=\"$(SYSCONFDIR)\" -DAK_DATADIR=\"$(DATADIR)\"
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FB)/%,$(FUZZ_SRC))
FUZZ_LIBOBJ  := $(patsubst %.c,$(FB)/obj/%.o,$(CORE_SRC) $(ENGINE_SRC)) $(FB)/obj/gen/prices_table.o

$(FB)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
# the compiled-in price table, generated once by the normal build
$(FB)/obj/gen/prices_table.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FB)/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h $(FUZZ_LIBOBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBOBJ) $(PKG_LIBS) -lpthread -lm

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)
fuzz: deps fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

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
	# the shared ledger: written by the members of the agentkavach group (users who run agents
	# are added to it: usermod -aG agentkavach USER); nothing world-writable (see core/ledger.c)
	if [ -z "$(DESTDIR)" ] && ! getent group $(AK_GROUP) >/dev/null; then groupadd --system $(AK_GROUP); fi
	install -d -m 2770 $(DESTDIR)$(STATEDIR)
	if getent group $(AK_GROUP) >/dev/null; then chgrp $(AK_GROUP) $(DESTDIR)$(STATEDIR); fi
	chmod 2770 $(DESTDIR)$(STATEDIR)
	for f in $(DESTDIR)$(STATEDIR)/state.mdb $(DESTDIR)$(STATEDIR)/state.mdb-lock; do \
	    if [ -f "$$f" ]; then chmod o-rwx "$$f"; chgrp $(AK_GROUP) "$$f" 2>/dev/null || true; fi; done
	install -d -m 0755 $(DESTDIR)$(LOGDIR)
	install -m 0755 $(B)/akctl $(B)/akrun $(B)/akproxy $(DESTDIR)$(BINDIR)/
	if [ -f $(B)/akcollector ]; then install -m 0755 $(B)/akcollector $(DESTDIR)$(BINDIR)/; fi
	install -m 0644 pricing/prices.yaml $(DESTDIR)$(DATADIR)/prices.yaml
	# the dashboard's page (served by akcollector; Chart.js comes from Debian's libjs-chart.js)
	install -d $(DESTDIR)$(DATADIR)/web
	install -m 0644 web/index.html web/app.js web/app.css $(DESTDIR)$(DATADIR)/web/
	install -m 0644 agentkavach.yaml.example $(DESTDIR)$(SYSCONFDIR)/agentkavach.yaml.example
	[ -f $(DESTDIR)$(SYSCONFDIR)/agentkavach.yaml ] || install -m 0644 dist/agentkavach.yaml $(DESTDIR)$(SYSCONFDIR)/agentkavach.yaml
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/akcollector.service.in > $(DESTDIR)$(UNITDIR)/akcollector.service
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/akproxy.service.in > $(DESTDIR)$(UNITDIR)/akproxy.service

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libakshim.so $(DESTDIR)$(LIBDIR)/libakengine.so
	rm -f $(DESTDIR)$(BINDIR)/akctl $(DESTDIR)$(BINDIR)/akrun $(DESTDIR)$(BINDIR)/akcollector $(DESTDIR)$(BINDIR)/akproxy
	rm -f $(DESTDIR)$(UNITDIR)/akcollector.service $(DESTDIR)$(UNITDIR)/akproxy.service $(DESTDIR)$(DATADIR)/prices.yaml
	rm -rf $(DESTDIR)$(DATADIR)/web

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
